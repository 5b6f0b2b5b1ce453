import ConfigFile
import Foundation
import MTCrypto
#if canImport(Glibc)
import Glibc
#endif

/// Everything an incident's steps need from outside: where incidents live, who acts,
/// the clock, the checklist, and what a snapshot step collects.
public struct RunbookEnvironment: Sendable {
    public var stateDirectory: String
    public var actor: String
    public var host: String
    /// Milliseconds since the epoch.
    public var clock: @Sendable () -> Int64
    public var checklist: any DeploymentChecklist
    public var snapshotCatalog: ArtifactCatalog
    /// Upper bound on a command step's standard output kept as evidence.
    public var maximumOutputBytes: Int

    public init(stateDirectory: String, actor: String, host: String = HostFacts.hostName(),
                clock: @escaping @Sendable () -> Int64 = { HostFacts.nowMilliseconds() },
                checklist: any DeploymentChecklist, snapshotCatalog: ArtifactCatalog = .shipped(),
                maximumOutputBytes: Int = 64 << 20) {
        self.stateDirectory = stateDirectory
        self.actor = actor
        self.host = host
        self.clock = clock
        self.checklist = checklist
        self.snapshotCatalog = snapshotCatalog
        self.maximumOutputBytes = maximumOutputBytes
    }
}

/// What running or resolving a step did.
public struct StepOutcome: Sendable, Equatable {
    /// The journal entry recorded for the step.
    public var entry: JournalEntry
    /// Lines for the operator (exit status, check results, archive path); never a secret.
    public var summary: [String]
    /// True when every step is now resolved (a `completed` entry was added).
    public var completedRunbook: Bool

    public var succeeded: Bool { entry.event == .stepDone || entry.event == .stepSkipped }
}

/// One incident worked through one runbook: its folder (`STATE/ID/`), its journal and
/// the runbook as it was at the start. Opening it for work refuses a runbook whose file
/// has changed since; every step is taken in order and recorded before it counts.
public struct Incident: Sendable {
    public static let runbookCopyName = "runbook.yaml"
    public static let evidenceFolder = "evidence"

    public let id: String
    public let directory: String
    public let runbook: Runbook
    public let journal: IncidentJournal
    public private(set) var entries: [JournalEntry]
    let environment: RunbookEnvironment

    public var progress: RunbookProgress { RunbookProgress(runbook: runbook, entries: entries) }
    public var parameters: [String: String] { entries.first?.parameters ?? [:] }

    /// Letters, digits, `.`, `_`, `-`; at most 64; not starting with `.` or `-`.
    public static func isValidID(_ id: String) -> Bool {
        !id.isEmpty && id.utf8.count <= 64 && id.first != "." && id.first != "-" && id.utf8.allSatisfy {
            (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0)
                || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-")
        }
    }

    public static func directory(for id: String, in stateDirectory: String) -> String {
        stateDirectory + "/" + id
    }

    // MARK: Opening

    /// Opens incident `id` with `runbook`: makes its folder, keeps a copy of the runbook
    /// and writes the journal's first entry with the runbook's SHA-256.
    public static func start(runbook: Runbook, incident id: String, parameters: [String: String] = [:],
                             environment: RunbookEnvironment) throws(ForensicsError) -> Incident {
        guard isValidID(id) else {
            throw .usage("incident id \(String(reflecting: id)): use letters, digits, '.', '_' and '-' (at most 64, not starting with '.' or '-')")
        }
        let bytes: [UInt8]
        do {
            bytes = try ConfigDocument.readBytes(path: runbook.path, maximumBytes: ConfigDocument.maximumFileBytes)
        } catch {
            throw .configuration(error)
        }
        guard SHA256.hash(bytes).hexString == runbook.sha256 else {
            throw .refused("\(runbook.path) changed while it was being read; start again")
        }
        try makeDirectory(environment.stateDirectory, intermediate: true)
        let directory = directory(for: id, in: environment.stateDirectory)
        try makeDirectory(directory, intermediate: false)
        try makeDirectory(directory + "/" + evidenceFolder, intermediate: false)
        let journal = IncidentJournal(directory: directory)
        if access(journal.path, F_OK) == 0 {
            throw .usage("incident \(id) already exists in \(environment.stateDirectory)")
        }
        let copy = try writeEvidence(bytes, to: directory + "/" + runbookCopyName, replacing: true)
        let reference = JournalEntry.RunbookReference(id: runbook.id, title: runbook.title, version: runbook.version,
                                                      path: absolutePath(runbook.path), sha256: runbook.sha256)
        let entry = try journal.create(.init(event: .started, note: runbook.title,
                                             evidence: [.init(path: runbookCopyName, bytes: copy.bytes, sha256: copy.sha256)],
                                             runbook: reference, parameters: parameters),
                                       incident: id, actor: environment.actor, milliseconds: environment.clock())
        return Incident(id: id, directory: directory, runbook: runbook, journal: journal, entries: [entry],
                        environment: environment)
    }

    /// Opens incident `id` to carry on: the journal must verify as a chain and the
    /// runbook file must be byte for byte what it was at the start; otherwise the resume
    /// is refused (and the refusal journaled when the journal itself is sound).
    public static func resume(_ id: String, environment: RunbookEnvironment) throws(ForensicsError) -> Incident {
        let record = try IncidentRecord.load(id, stateDirectory: environment.stateDirectory)
        if let finding = IncidentJournal.chainFindings(record.reading).first {
            throw .journal(path: record.journal.path, line: finding.line,
                           reason: "\(finding.message); the incident cannot be resumed (run `mtforensics runbook verify \(id)`)")
        }
        guard let reference = record.started?.runbook else {
            throw .journal(path: record.journal.path, line: 1, reason: "the first entry names no runbook")
        }
        let current: Runbook
        do {
            current = try Runbook.load(path: reference.path)
        } catch {
            try refuse(record, "the runbook \(reference.path) cannot be read (\(error.message)); it must be the file the incident started with (sha256 \(reference.sha256))", environment)
        }
        guard current.sha256 == reference.sha256 else {
            try refuse(record, "the runbook \(reference.path) has changed since incident \(id) started (sha256 then \(reference.sha256), now \(current.sha256)); restore it (the original is \(record.directory)/\(runbookCopyName)) or start a new incident", environment)
        }
        return Incident(id: id, directory: record.directory, runbook: current, journal: record.journal,
                        entries: record.reading.entries, environment: environment)
    }

    private static func refuse(_ record: IncidentRecord, _ message: String, _ environment: RunbookEnvironment) throws(ForensicsError) -> Never {
        _ = try? record.journal.append(.init(event: .refused, note: "resume refused: " + message),
                                       actor: environment.actor, milliseconds: environment.clock())
        throw .refused(message)
    }

    // MARK: Steps

    /// Runs the next step when it is a command, snapshot or check step. A manual step is
    /// not run: the caller asks the operator and calls `confirm`.
    public mutating func runNext() throws(ForensicsError) -> StepOutcome {
        guard let current = progress.current else { throw .usage("incident \(id) is complete: every step is resolved") }
        let step = current.step
        guard step.kind != .manual else {
            throw .usage("step \(step.id) is manual: confirm it with `done \(id) \(step.id) --note …` or skip it")
        }
        try requirePreservedEvidence(for: step)
        switch step.action {
        case .manual:
            preconditionFailure("handled above")
        case .command(let invocation, let timeout):
            return try runCommand(step, invocation, timeout: timeout)
        case .snapshot(let since, let format, let redact):
            return try runSnapshot(step, since: since, format: format, redact: redact)
        case .check(let ids):
            return try runChecks(step, ids: ids)
        }
    }

    /// The operator confirms the next step, a manual one, with a note.
    public mutating func confirm(_ stepID: String, note: String) throws(ForensicsError) -> StepOutcome {
        let step = try nextStep(stepID, doing: "done")
        guard step.kind == .manual else {
            throw .usage("step \(stepID) is a \(step.kind.rawValue) step: run it with `next \(id)` (or skip it with a reason)")
        }
        let text = note.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw .usage("step \(stepID): say what was done in a note (--note)") }
        try requirePreservedEvidence(for: step)
        return try record(.init(event: .stepDone, step: stepID, note: text), summary: ["done: \(step.title)"])
    }

    /// The operator skips the next step, with a reason.
    public mutating func skip(_ stepID: String, reason: String) throws(ForensicsError) -> StepOutcome {
        let step = try nextStep(stepID, doing: "skip")
        let text = reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw .usage("step \(stepID): a skip needs a reason (--reason)") }
        return try record(.init(event: .stepSkipped, step: stepID, note: text), summary: ["skipped: \(step.title)"])
    }

    private func nextStep(_ stepID: String, doing verb: String) throws(ForensicsError) -> RunbookStep {
        guard let step = runbook.step(stepID) else {
            throw .usage("runbook \(runbook.id) has no step \(stepID); its steps are \(runbook.steps.map(\.id).joined(separator: ", "))")
        }
        guard let current = progress.current else { throw .usage("incident \(id) is complete: every step is resolved") }
        guard current.step.id == stepID else {
            if progress.steps.first(where: { $0.step.id == stepID })?.state.isResolved == true {
                throw .refused("step \(stepID) is already resolved; the next step is \(current.step.id)")
            }
            throw .refused("step \(current.step.id) comes before \(stepID): \(verb == "skip" ? "resolve" : "finish or skip") it first")
        }
        return step
    }

    private mutating func requirePreservedEvidence(for step: RunbookStep) throws(ForensicsError) {
        guard step.destructive, !progress.evidencePreserved else { return }
        let snapshots = runbook.steps.filter { $0.kind == .snapshot }.map(\.id)
        let message = "step \(step.id) is destructive and no snapshot of incident \(id) has succeeded yet"
            + (snapshots.isEmpty ? " (this runbook has no snapshot step)" : " (run \(snapshots.joined(separator: " or ")) first)")
        _ = try record(.init(event: .refused, step: step.id, note: message), summary: [])
        throw .refused(message)
    }

    private mutating func record(_ draft: IncidentJournal.Draft, summary: [String]) throws(ForensicsError) -> StepOutcome {
        let wasComplete = progress.isComplete
        let entry = try journal.append(draft, actor: environment.actor, milliseconds: environment.clock(), after: entries.count)
        entries.append(entry)
        var completed = false
        if !wasComplete && progress.isComplete {
            let done = progress.count(.done), skipped = progress.count(.skipped), failed = progress.count(.failedContinued)
            let closing = try journal.append(.init(event: .completed, note: "\(done) done, \(skipped) skipped, \(failed) failed and continued"),
                                             actor: environment.actor, milliseconds: environment.clock())
            entries.append(closing)
            completed = true
        }
        return StepOutcome(entry: entry, summary: summary, completedRunbook: completed)
    }

    // MARK: Step kinds

    /// `{{name}}` replaced by the incident's values; in a shell line each value is quoted.
    public func substitute(_ text: String, quoted: Bool) -> String {
        let values: [String: String] = [
            "incident": id,
            "incident_dir": directory,
            "evidence_dir": directory + "/" + Self.evidenceFolder,
            "proxy_config": parameters["proxy_config"] ?? "",
            "auditor_config": parameters["auditor_config"] ?? "",
        ]
        var result = text
        for (name, value) in values {
            let shown = quoted ? "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'" : value
            result = result.replacingOccurrences(of: "{{\(name)}}", with: shown)
        }
        return result
    }

    private mutating func runCommand(_ step: RunbookStep, _ invocation: RunbookStep.Invocation,
                                     timeout: Duration) throws(ForensicsError) -> StepOutcome {
        let argv: [String]
        let written: [String]
        switch invocation {
        case .argv(let words):
            argv = words.map { substitute($0, quoted: false) }
            written = words
        case .shell(let line):
            argv = ["/bin/sh", "-c", substitute(line, quoted: true)]
            written = [line]
        }
        for key in ["proxy_config", "auditor_config"] where written.contains(where: { $0.contains("{{\(key)}}") })
            && (parameters[key] ?? "").isEmpty {
            let option = "--" + key.replacingOccurrences(of: "_", with: "-")
            let note = "not run: the command needs {{\(key)}}, and the incident was started without \(option)"
            return try record(.init(event: .stepFailed, step: step.id, note: note),
                              summary: [note + "; run it by hand and skip the step with what you did"])
        }
        let base = try evidenceBase(for: step)
        let outputPath = base + ".stdout"
        let output = try EvidenceFile(path: directory + "/" + outputPath)
        var status = "argv: \(argv.map { String(reflecting: $0) }.joined(separator: " "))\ntimeout: \(ConfigText.format(timeout))\n"
        var exitStatus: Int?
        var failure: String?
        var standardError = ""
        let limit = environment.maximumOutputBytes
        do {
            let result = try CommandRunner.run(argv, timeout: timeout) { chunk throws in
                guard output.bytes + chunk.count <= limit else { throw OutputLimit() }
                try output.write(chunk)
            }
            standardError = result.standardError
            if let code = result.exitStatus { exitStatus = Int(code) }
            if result.timedOut {
                failure = "timed out after \(ConfigText.format(timeout))"
            } else if let signal = result.signal {
                failure = "killed by signal \(signal)"
            } else if result.exitStatus != 0 {
                failure = "exit status \(result.exitStatus ?? -1)"
            }
        } catch is OutputLimit {
            failure = "standard output passed \(limit) bytes; the command was stopped"
        } catch CommandRunner.Failure.notFound(let name) {
            failure = "command not found: \(name)"
        } catch CommandRunner.Failure.launch(let reason) {
            failure = "could not start: \(reason)"
        } catch let error as ForensicsError {
            throw error
        } catch {
            failure = "\(error)"
        }
        let outputDigest = try output.finish()
        status += "exit_status: \(exitStatus.map(String.init) ?? "none")\n" + "result: \(failure ?? "succeeded")\n"
        let errorDigest = try Self.writeEvidence(Array(standardError.utf8), to: directory + "/" + base + ".stderr", replacing: false)
        let statusDigest = try Self.writeEvidence(Array(status.utf8), to: directory + "/" + base + ".status", replacing: false)
        let evidence: [JournalEntry.Evidence] = [
            .init(path: outputPath, bytes: outputDigest.bytes, sha256: outputDigest.sha256),
            .init(path: base + ".stderr", bytes: errorDigest.bytes, sha256: errorDigest.sha256),
            .init(path: base + ".status", bytes: statusDigest.bytes, sha256: statusDigest.sha256),
        ]
        let note = failure.map { "failed: \($0)" } ?? "exit status 0"
        var summary = ["$ " + argv.joined(separator: " "), note + " (\(outputDigest.bytes) bytes of output in \(outputPath))"]
        if failure != nil && !standardError.isEmpty {
            summary.append("stderr: " + standardError.split(separator: "\n").prefix(5).joined(separator: "\n        "))
        }
        return try record(.init(event: failure == nil ? .stepDone : .stepFailed, step: step.id, note: note,
                                exitStatus: exitStatus, evidence: evidence), summary: summary)
    }

    private struct OutputLimit: Error {}

    private mutating func runSnapshot(_ step: RunbookStep, since: Duration, format: ArchiveFormat,
                                      redact: Bool) throws(ForensicsError) -> StepOutcome {
        let now = environment.clock()
        func existing(_ key: String) -> String? {
            guard let path = parameters[key], !path.isEmpty, access(path, R_OK) == 0 else { return nil }
            return path
        }
        let request = SnapshotRequest(
            proxyConfigurationPath: existing("proxy_config"), auditorConfigurationPath: existing("auditor_config"),
            sinceMilliseconds: now - ConfigText.milliseconds(since), untilMilliseconds: now,
            outputDirectory: directory + "/" + Self.evidenceFolder, incident: id, operatorName: environment.actor,
            host: environment.host, redactAddresses: redact, format: format, catalog: environment.snapshotCatalog,
            commandLine: ["mtforensics", "runbook", "next", id, "(step \(step.id))"])
        let result: SnapshotResult
        do {
            result = try EvidenceSnapshot(request: request, clock: HostFacts.clock(atMilliseconds: now)).run()
        } catch {
            return try record(.init(event: .stepFailed, step: step.id, note: "snapshot failed: \(error)"),
                              summary: ["snapshot failed: \(error)"])
        }
        let archive = Self.evidenceFolder + "/" + (result.archivePath as NSString).lastPathComponent
        let sidecar = Self.evidenceFolder + "/" + (result.sidecarPath as NSString).lastPathComponent
        let sidecarDigest = try FileDigest.of(path: result.sidecarPath)
        let collected = result.custody.artifacts.count { $0.status == .collected }
        return try record(.init(event: .stepDone, step: step.id,
                                note: "archive \(archive), sha256 \(result.sha256), \(collected) of \(result.custody.artifacts.count) artifacts collected",
                                evidence: [.init(path: archive, bytes: Int(result.archiveBytes), sha256: result.sha256),
                                           .init(path: sidecar, bytes: sidecarDigest.bytes, sha256: sidecarDigest.sha256)]),
                          summary: ["archive \(result.archivePath)", "sha256 \(result.sha256), \(result.archiveBytes) bytes, \(collected) of \(result.custody.artifacts.count) artifacts collected"])
    }

    private mutating func runChecks(_ step: RunbookStep, ids: [String]) throws(ForensicsError) -> StepOutcome {
        let context = CheckContext(proxyConfigPath: parameters["proxy_config"].flatMap { $0.isEmpty ? nil : $0 },
                                   auditorConfigPath: parameters["auditor_config"].flatMap { $0.isEmpty ? nil : $0 },
                                   now: Date(timeIntervalSince1970: Double(environment.clock()) / 1000))
        let reported = environment.checklist.run(ids: ids, context: context)
        var outcomes: [CheckOutcome] = []
        for checkID in ids {
            outcomes.append(reported.first { $0.id == checkID }
                ?? CheckOutcome(id: checkID, title: checkID, status: .unknown, detail: "no such check in this build"))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let bytes = (try? Array(encoder.encode(outcomes))) ?? []
        let base = try evidenceBase(for: step)
        let digest = try Self.writeEvidence(bytes + [UInt8(ascii: "\n")], to: directory + "/" + base + ".checks.json", replacing: false)
        let failed = outcomes.filter { $0.status != .pass }
        let note = failed.isEmpty ? "\(outcomes.count) checks passed"
            : "\(failed.count) of \(outcomes.count) checks did not pass: " + failed.map { "\($0.id) (\($0.status.rawValue))" }.joined(separator: ", ")
        let summary = outcomes.map { outcome in
            "\(outcome.status.rawValue.uppercased().padding(toLength: 8, withPad: " ", startingAt: 0))\(outcome.id): \(outcome.detail)"
                + (outcome.status != .pass ? (outcome.fix.map { " — fix: \($0)" } ?? "") : "")
        }
        return try record(.init(event: failed.isEmpty ? .stepDone : .stepFailed, step: step.id, note: note,
                                evidence: [.init(path: base + ".checks.json", bytes: digest.bytes, sha256: digest.sha256)]),
                          summary: summary)
    }

    /// `evidence/NNN-STEP`, numbered by the journal entry it will belong to, unused so far.
    private func evidenceBase(for step: RunbookStep) throws(ForensicsError) -> String {
        let number = String(entries.count + 1)
        let padded = String(repeating: "0", count: max(0, 3 - number.count)) + number
        var base = Self.evidenceFolder + "/" + padded + "-" + step.id
        var attempt = 1
        while access(directory + "/" + base + ".stdout", F_OK) == 0 || access(directory + "/" + base + ".checks.json", F_OK) == 0
                || access(directory + "/" + base + ".status", F_OK) == 0 {
            attempt += 1
            base = Self.evidenceFolder + "/" + padded + "-" + step.id + "-" + String(attempt)
        }
        return base
    }

    // MARK: Files

    static func makeDirectory(_ path: String, intermediate: Bool) throws(ForensicsError) {
        if intermediate {
            let parent = (path as NSString).deletingLastPathComponent
            if !parent.isEmpty && parent != path && access(parent, F_OK) != 0 {
                try makeDirectory(parent, intermediate: true)
            }
        }
        if mkdir(path, 0o700) != 0 && errno != EEXIST { throw .lastIO(path, "mkdir") }
    }

    static func absolutePath(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return FileManager.default.currentDirectoryPath + "/" + path
    }

    @discardableResult
    static func writeEvidence(_ bytes: [UInt8], to path: String, replacing: Bool) throws(ForensicsError) -> FileDigest {
        let file = try EvidenceFile(path: path, replacing: replacing)
        try file.write(bytes)
        return try file.finish()
    }
}

/// An evidence file being written: created new (0600), hashed as written, synced on finish.
final class EvidenceFile {
    let path: String
    private var descriptor: Int32
    private var hasher = SHA256()
    private(set) var bytes = 0

    init(path: String, replacing: Bool = false) throws(ForensicsError) {
        self.path = path
        descriptor = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (replacing ? O_TRUNC : O_EXCL), 0o600)
        guard descriptor >= 0 else { throw .lastIO(path, "create") }
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    func write(_ chunk: UnsafeRawBufferPointer) throws(ForensicsError) {
        var offset = 0
        while offset < chunk.count {
            let count = Glibc.write(descriptor, chunk.baseAddress! + offset, chunk.count - offset)
            if count < 0 {
                if errno == EINTR { continue }
                throw .lastIO(path, "write")
            }
            offset += count
        }
        hasher.update(chunk)
        bytes += chunk.count
    }

    func write(_ bytes: [UInt8]) throws(ForensicsError) {
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .lastIO(path, "write")
            }
            offset += count
        }
        hasher.update(bytes)
        self.bytes += bytes.count
    }

    func finish() throws(ForensicsError) -> FileDigest {
        guard fsync(descriptor) == 0 else { throw .lastIO(path, "fsync") }
        close(descriptor)
        descriptor = -1
        var digest = SHA256()
        swap(&digest, &hasher)
        return FileDigest(bytes: bytes, sha256: digest.finalize().hexString)
    }
}
