/// The auditor library: tailing, rules, detectors, decisions, blockers, reports.
/// Filled by the "mtauditor" issue; nothing here pretends to work yet.
public enum AuditorLibrary {
    public static let version = "0.1.0"
}
