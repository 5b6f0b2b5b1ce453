import MTCrypto

/// One line of an incident's journal (`journal.jsonl`): what happened, when, by whom, to
/// which step, with the hashes of the evidence it produced. Each entry carries the hash
/// of the one before (`prev`) and its own (`hash`, SHA-256 over the canonical JSON of
/// every other field), so that any edit, deletion or reordering breaks the chain.
public struct JournalEntry: Sendable, Equatable, Codable {
    public enum Event: String, Sendable, Equatable, Codable, CaseIterable {
        /// The incident was opened with a runbook (always entry 1).
        case started
        /// A step succeeded: a manual step confirmed, a command exited 0, a snapshot
        /// written, every check passed.
        case stepDone = "step_done"
        /// A step failed: a command's non-zero exit, a timeout, a failed check or snapshot.
        case stepFailed = "step_failed"
        /// The operator skipped a step, with a reason.
        case stepSkipped = "step_skipped"
        /// A step was refused (a destructive step before any snapshot, a changed runbook).
        case refused
        /// Every step is resolved.
        case completed
    }

    /// A file the entry vouches for, relative to the incident's folder.
    public struct Evidence: Sendable, Equatable, Codable {
        public var path: String
        public var bytes: Int
        public var sha256: String

        public init(path: String, bytes: Int, sha256: String) {
            self.path = path
            self.bytes = bytes
            self.sha256 = sha256
        }
    }

    /// The runbook an incident follows, as it was when the incident started.
    public struct RunbookReference: Sendable, Equatable, Codable {
        public var id: String
        public var title: String
        public var version: Int
        /// Where it was read from.
        public var path: String
        /// SHA-256 of the file's bytes; a resume refuses a runbook that no longer matches.
        public var sha256: String

        public init(id: String, title: String, version: Int, path: String, sha256: String) {
            self.id = id
            self.title = title
            self.version = version
            self.path = path
            self.sha256 = sha256
        }
    }

    public var seq: Int
    /// RFC 3339 UTC with milliseconds.
    public var time: String
    public var actor: String
    public var event: Event
    public var incident: String
    public var step: String?
    public var note: String?
    public var exitStatus: Int?
    public var evidence: [Evidence]
    public var runbook: RunbookReference?
    /// Settings the incident was started with (`proxy_config`, `auditor_config`).
    public var parameters: [String: String]?
    public var prev: String
    public var hash: String

    enum CodingKeys: String, CodingKey {
        case seq, time, actor, event, incident, step, note, evidence, runbook, parameters, prev, hash
        case exitStatus = "exit_status"
    }

    public static let genesis = String(repeating: "0", count: 64)

    /// The time in milliseconds since the epoch (nil only for an entry that was edited by hand).
    public var milliseconds: Int64? { RFC3339.milliseconds(Array(time.utf8)) }

    init(seq: Int, time: String, actor: String, event: Event, incident: String, step: String? = nil,
         note: String? = nil, exitStatus: Int? = nil, evidence: [Evidence] = [], runbook: RunbookReference? = nil,
         parameters: [String: String]? = nil, prev: String) {
        self.seq = seq
        self.time = time
        self.actor = actor
        self.event = event
        self.incident = incident
        self.step = step
        self.note = note
        self.exitStatus = exitStatus
        self.evidence = evidence
        self.runbook = runbook
        self.parameters = parameters
        self.prev = prev
        self.hash = ""
        self.hash = computedHash
    }

    func canonical(includingHash: Bool) -> CanonicalJSON {
        var fields: [String: CanonicalJSON] = [
            "seq": .integer(seq), "time": .string(time), "actor": .string(actor),
            "event": .string(event.rawValue), "incident": .string(incident), "prev": .string(prev),
            "evidence": .array(evidence.map {
                .object(["path": .string($0.path), "bytes": .integer($0.bytes), "sha256": .string($0.sha256)])
            }),
        ]
        if let step { fields["step"] = .string(step) }
        if let note { fields["note"] = .string(note) }
        if let exitStatus { fields["exit_status"] = .integer(exitStatus) }
        if let runbook {
            fields["runbook"] = .object([
                "id": .string(runbook.id), "title": .string(runbook.title), "version": .integer(runbook.version),
                "path": .string(runbook.path), "sha256": .string(runbook.sha256),
            ])
        }
        if let parameters { fields["parameters"] = .object(parameters.mapValues { .string($0) }) }
        if includingHash { fields["hash"] = .string(hash) }
        return .object(fields)
    }

    /// SHA-256 over the canonical JSON of every field but `hash`.
    public var computedHash: String {
        SHA256.hash(canonical(includingHash: false).bytes).hexString
    }

    /// The journal line, without its newline.
    public var line: [UInt8] { canonical(includingHash: true).bytes }
}
