#if canImport(Glibc)
import Glibc
#endif

/// An incident as its folder shows it, for reading only (`status`, `report`, `verify`):
/// the journal as read, and the copy of the runbook kept at the start.
public struct IncidentRecord: Sendable {
    public let id: String
    public let directory: String
    public let journal: IncidentJournal
    public let reading: JournalReading
    /// The runbook from the incident's own copy, when it is intact.
    public let runbook: Runbook?
    /// Why the copy could not be used, when it could not.
    public let runbookProblem: String?

    public var started: JournalEntry? { reading.lines.first { $0.entry.event == .started }?.entry }
    public var progress: RunbookProgress? { runbook.map { RunbookProgress(runbook: $0, entries: reading.entries) } }

    public static func load(_ id: String, stateDirectory: String) throws(ForensicsError) -> IncidentRecord {
        guard Incident.isValidID(id) else { throw .usage("incident id \(String(reflecting: id)) is not a valid id") }
        let directory = Incident.directory(for: id, in: stateDirectory)
        let journal = IncidentJournal(directory: directory)
        guard access(journal.path, F_OK) == 0 else {
            throw .usage("no incident \(id) in \(stateDirectory) (no \(journal.path))")
        }
        let reading = try journal.read()
        var runbook: Runbook?
        var problem: String?
        let copy = directory + "/" + Incident.runbookCopyName
        if let reference = reading.lines.first(where: { $0.entry.event == .started })?.entry.runbook {
            do {
                let loaded = try Runbook.load(path: copy)
                if loaded.sha256 == reference.sha256 {
                    runbook = loaded
                } else {
                    problem = "\(copy) differs from the runbook recorded at the start (sha256 \(reference.sha256))"
                }
            } catch {
                problem = "\(error)"
            }
        } else {
            problem = "the journal has no start entry naming a runbook"
        }
        return IncidentRecord(id: id, directory: directory, journal: journal, reading: reading, runbook: runbook,
                              runbookProblem: problem)
    }

    /// Ids of the incidents in `stateDirectory` (folders with a journal), sorted.
    public static func list(stateDirectory: String) -> [String] {
        guard let folder = opendir(stateDirectory) else { return [] }
        defer { closedir(folder) }
        var ids: [String] = []
        while let item = readdir(folder) {
            let name = withUnsafePointer(to: item.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if Incident.isValidID(name), access(stateDirectory + "/" + name + "/" + IncidentJournal.fileName, F_OK) == 0 {
                ids.append(name)
            }
        }
        return ids.sorted()
    }
}
