/// The forensics library: snapshots, verification, timelines, runbooks.
/// Filled by the "mtforensics" issue; nothing here pretends to work yet.
public enum ForensicsLibrary {
    public static let version = "0.1.0"
}
