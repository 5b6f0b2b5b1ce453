import ConfigFile
import Foundation
import MTCrypto
#if canImport(Glibc)
import Glibc
#endif

/// A problem the journal reader or verifier found, located by journal line (1-based).
public struct JournalFinding: Sendable, Equatable, CustomStringConvertible {
    /// The line of `journal.jsonl`, or nil for a problem of the whole journal.
    public var line: Int?
    public var message: String

    public init(line: Int?, message: String) {
        self.line = line
        self.message = message
    }

    public var description: String {
        line.map { "\(IncidentJournal.fileName):\($0): \(message)" } ?? "\(IncidentJournal.fileName): \(message)"
    }
}

/// What a read of the journal found: every entry that decodes, with its line, and every
/// line that does not.
public struct JournalReading: Sendable, Equatable {
    public struct Line: Sendable, Equatable {
        public var number: Int
        public var entry: JournalEntry
    }

    public var lines: [Line]
    public var findings: [JournalFinding]

    public var entries: [JournalEntry] { lines.map(\.entry) }
}

/// The result of `IncidentJournal.verify`: the chain's findings and the evidence checked.
public struct JournalVerification: Sendable, Equatable {
    public var entries: Int
    public var evidenceFiles: Int
    public var findings: [JournalFinding]
    /// The last entry's hash: copy it somewhere else (the ticket, a chat) and pass it to
    /// `verify --head` later to prove that no entry was cut from the end.
    public var head: String?

    public var isVerified: Bool { findings.isEmpty }
}

/// The append-only, hash-chained journal of one incident: `INCIDENT_DIR/journal.jsonl`.
///
/// Appends take an exclusive lock, re-read and check the whole chain, write one whole
/// line with `O_APPEND` and `fsync` it. A journal whose chain is broken is never extended.
public struct IncidentJournal: Sendable {
    public static let fileName = "journal.jsonl"
    static let maximumBytes = 64 << 20
    static let maximumLineBytes = 1 << 20

    /// The incident's folder.
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    public var path: String { directory + "/" + Self.fileName }

    /// The entries of the journal at `path` (an incident folder or its `journal.jsonl`),
    /// in file order. Lines that do not decode are left out; `read()` and `verify()` name
    /// them. Throws only when the file cannot be read.
    public static func entries(at path: String) throws(ForensicsError) -> [JournalEntry] {
        let directory = path.hasSuffix("/" + fileName) ? String(path.dropLast(fileName.count + 1))
            : path == fileName ? "." : path
        return try IncidentJournal(directory: directory).read().entries
    }

    /// Every line, decoded or named as a finding. Never traps on any content.
    public func read() throws(ForensicsError) -> JournalReading {
        Self.decode(try readBytes())
    }

    static func decode(_ bytes: [UInt8]) -> JournalReading {
        var lines: [JournalReading.Line] = []
        var findings: [JournalFinding] = []
        var number = 0
        var start = 0
        while start < bytes.count {
            number += 1
            let newline = bytes[start...].firstIndex(of: UInt8(ascii: "\n"))
            let end = newline ?? bytes.count
            let line = Array(bytes[start..<end])
            start = end + 1
            if newline == nil {
                findings.append(.init(line: number, message: "incomplete line without a newline (an interrupted write or a cut file)"))
                continue
            }
            switch decodeLine(line) {
            case .success(let entry):
                if entry.line != line {
                    findings.append(.init(line: number, message: "not in the journal's canonical form: the line was edited"))
                }
                lines.append(.init(number: number, entry: entry))
            case .failure(let finding): findings.append(.init(line: number, message: finding.message))
            }
        }
        return JournalReading(lines: lines, findings: findings)
    }

    private struct LineProblem: Error {
        var message: String
    }

    private static func decodeLine(_ line: [UInt8]) -> Result<JournalEntry, LineProblem> {
        if line.isEmpty { return .failure(.init(message: "empty line")) }
        if line.count > maximumLineBytes { return .failure(.init(message: "line longer than \(maximumLineBytes) bytes")) }
        let entry: JournalEntry
        do {
            entry = try JSONDecoder().decode(JournalEntry.self, from: Data(line))
        } catch let DecodingError.keyNotFound(key, _) {
            return .failure(.init(message: "not a journal entry: \(key.stringValue) is missing"))
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context),
                let DecodingError.dataCorrupted(context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            return .failure(.init(message: field.isEmpty ? "not a journal entry (not a JSON object of the journal's fields)"
                                                          : "not a journal entry: \(field) has the wrong type or value"))
        } catch {
            return .failure(.init(message: "not a journal entry"))
        }
        return .success(entry)
    }

    /// Checks every line: its form, its own hash, its place in the chain, and every
    /// evidence file it names. Any edit, deletion or reordering is named by its line.
    /// With `expectedHead` (a hash recorded elsewhere), a cut at the end is found too.
    public func verify(expectedHead: String? = nil) throws(ForensicsError) -> JournalVerification {
        let reading = try read()
        var findings = Self.chainFindings(reading)
        var evidenceFiles = 0
        for line in reading.lines {
            for evidence in line.entry.evidence {
                evidenceFiles += 1
                if let problem = check(evidence) {
                    findings.append(.init(line: line.number, message: "evidence \(evidence.path): \(problem)"))
                }
            }
        }
        let head = reading.lines.last?.entry.hash
        if let expectedHead {
            let expected = expectedHead.lowercased()
            // A head found before the end is fine: entries were appended after it was recorded.
            if !reading.lines.contains(where: { $0.entry.hash == expected }) {
                findings.append(.init(line: nil, message: "the expected head \(expected) is not in the journal: entries were cut from the end or altered"))
            }
        }
        if reading.lines.isEmpty && reading.findings.isEmpty {
            findings.append(.init(line: nil, message: "the journal is empty"))
        }
        findings.sort { ($0.line ?? Int.max, 0) < ($1.line ?? Int.max, 1) }
        return JournalVerification(entries: reading.lines.count, evidenceFiles: evidenceFiles, findings: findings, head: head)
    }

    /// The chain's findings, without touching evidence files: form, hash, order, links.
    public static func chainFindings(_ reading: JournalReading) -> [JournalFinding] {
        var findings = reading.findings
        var storedHashBySeq: [Int: String] = [:]
        for line in reading.lines where storedHashBySeq[line.entry.seq] == nil {
            storedHashBySeq[line.entry.seq] = line.entry.hash
        }
        var highest = 0
        var incident: String?
        for line in reading.lines {
            let entry = line.entry
            func report(_ message: String) { findings.append(.init(line: line.number, message: message)) }
            if entry.hash != entry.computedHash {
                report("entry \(entry.seq) was edited: its content does not match its hash")
            }
            if entry.seq < 1 {
                report("entry number \(entry.seq) is not positive")
            } else if entry.seq <= highest {
                report("entry \(entry.seq) comes after entry \(highest): lines were reordered or duplicated")
            } else {
                let previous = entry.seq == 1 ? JournalEntry.genesis : storedHashBySeq[entry.seq - 1]
                if let previous {
                    if entry.prev != previous {
                        report("entry \(entry.seq) does not chain to entry \(entry.seq - 1): one of them was altered")
                    }
                } else {
                    report("entry \(entry.seq - 1), which entry \(entry.seq) follows, is missing: deleted")
                }
                highest = entry.seq
            }
            if (entry.seq == 1) != (entry.event == .started) {
                report(entry.seq == 1 ? "entry 1 must be the start of the incident" : "a second start entry")
            }
            if let known = incident, known != entry.incident {
                report("entry \(entry.seq) belongs to incident \(entry.incident), not \(known)")
            }
            incident = incident ?? entry.incident
        }
        return findings
    }

    /// Why an evidence file no longer matches, or nil when it does.
    func check(_ evidence: JournalEntry.Evidence) -> String? {
        guard ArchivePath.isSafe(evidence.path) else { return "a path outside the incident's folder" }
        let full = directory + "/" + evidence.path
        guard let digest = try? FileDigest.of(path: full) else { return "missing or unreadable" }
        if digest.sha256 != evidence.sha256 { return "SHA-256 differs from the journal's (the file was changed)" }
        if digest.bytes != evidence.bytes { return "size differs from the journal's" }
        return nil
    }

    func readBytes() throws(ForensicsError) -> [UInt8] {
        do {
            return try ConfigDocument.readBytes(path: path, maximumBytes: Self.maximumBytes)
        } catch {
            throw .journal(path: path, line: nil, reason: error.message)
        }
    }

    /// What an append adds; `IncidentJournal` fills in number, time, incident and chain.
    struct Draft {
        var event: JournalEntry.Event
        var step: String? = nil
        var note: String? = nil
        var exitStatus: Int? = nil
        var evidence: [JournalEntry.Evidence] = []
        var runbook: JournalEntry.RunbookReference? = nil
        var parameters: [String: String]? = nil
    }

    /// Creates the journal with its first entry; fails when the incident already has one.
    func create(_ draft: Draft, incident: String, actor: String, milliseconds: Int64) throws(ForensicsError) -> JournalEntry {
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            if errno == EEXIST { throw .usage("incident \(incident) already exists (\(path))") }
            throw .lastIO(path, "create")
        }
        defer { close(descriptor) }
        let entry = JournalEntry(seq: 1, time: RFC3339.format(milliseconds: milliseconds), actor: actor, event: draft.event,
                                 incident: incident, step: draft.step, note: draft.note, exitStatus: draft.exitStatus,
                                 evidence: draft.evidence, runbook: draft.runbook, parameters: draft.parameters,
                                 prev: JournalEntry.genesis)
        try write(entry, to: descriptor)
        let folder = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if folder >= 0 { fsync(folder); close(folder) }
        return entry
    }

    /// Appends one entry under an exclusive lock, after checking the chain it extends.
    /// With `after`, the append is refused unless the journal still holds exactly that
    /// many entries: the caller's view of the incident is not stale.
    func append(_ draft: Draft, actor: String, milliseconds: Int64, after expected: Int? = nil) throws(ForensicsError) -> JournalEntry {
        let descriptor = open(path, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard descriptor >= 0 else { throw .lastIO(path, "open") }
        defer { close(descriptor) }
        while flock(descriptor, LOCK_EX) != 0 {
            if errno != EINTR { throw .lastIO(path, "lock") }
        }
        let reading = try read()
        if let first = Self.chainFindings(reading).first {
            throw .journal(path: path, line: first.line,
                           reason: "\(first.message); the journal is not extended (run `mtforensics runbook verify`)")
        }
        guard let last = reading.lines.last?.entry else { throw .journal(path: path, line: nil, reason: "the journal is empty") }
        if let expected, reading.lines.count != expected {
            throw .refused("the journal changed meanwhile (it has \(reading.lines.count) entries, not \(expected)): another mtforensics recorded a step; look at `status` and try again")
        }
        let entry = JournalEntry(seq: last.seq + 1, time: RFC3339.format(milliseconds: milliseconds), actor: actor,
                                 event: draft.event, incident: last.incident, step: draft.step, note: draft.note,
                                 exitStatus: draft.exitStatus, evidence: draft.evidence, runbook: draft.runbook,
                                 parameters: draft.parameters, prev: last.hash)
        try write(entry, to: descriptor)
        return entry
    }

    private func write(_ entry: JournalEntry, to descriptor: Int32) throws(ForensicsError) {
        let bytes = entry.line + [UInt8(ascii: "\n")]
        // One write call for the whole line: with O_APPEND no other writer can land inside it.
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw .lastIO(path, "append") }
        guard fsync(descriptor) == 0 else { throw .lastIO(path, "fsync") }
    }
}

/// Size and SHA-256 of a file, read in chunks.
struct FileDigest {
    var bytes: Int
    var sha256: String

    static func of(path: String) throws(ForensicsError) -> FileDigest {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .lastIO(path, "open") }
        defer { close(descriptor) }
        var hasher = SHA256()
        var total = 0
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .lastIO(path, "read")
            }
            if count == 0 { break }
            hasher.update(chunk[..<count])
            total += count
        }
        return FileDigest(bytes: total, sha256: hasher.finalize().hexString)
    }
}
