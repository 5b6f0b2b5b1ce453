import ArgumentParser
import Auditor
import ConfigFile
import Dispatch
import Forensics
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

struct TimelineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "timeline",
        abstract: "Merge proxy events, auditor findings and runbook journals into one ordered timeline.",
        discussion: """
        Reads evidence archives (their proxy/*.jsonl events, auditor/*.jsonl findings and any
        journal.jsonl), event files, auditor output (the JSON Lines of `mtauditor replay` or
        `mtauditor decisions list --json`) and runbook journals, keeps what lies in the time
        window and concerns --address, and prints it in time order. Journal entries are the
        incident's own actions: --address keeps them all. A line that cannot be read is named
        (file:line) on standard error and skipped; the exit status is then 3.
        """
    )

    @Option(name: .customLong("archive"), help: "An evidence archive from `mtforensics snapshot` (repeatable).")
    var archives: [String] = []

    @Option(name: .customLong("events"), help: "A proxy event file, JSON Lines (repeatable).")
    var eventFiles: [String] = []

    @Option(name: .customLong("auditor"), help: "Auditor output, JSON Lines of alerts and decisions (repeatable).")
    var auditorFiles: [String] = []

    @Option(name: .customLong("state"), help: "An auditor state database (the auditor's `state:` file), for its decisions (repeatable).")
    var states: [String] = []

    @Option(name: .customLong("journal"), help: "A runbook journal, incidents/ID/journal.jsonl (repeatable).")
    var journals: [String] = []

    @Option(help: "Only entries about this address, network (CIDR) or address hash.")
    var address: String?

    @Option(help: "Only entries at or after this time (RFC 3339, e.g. 2026-11-24T22:00:00Z).")
    var from: String?

    @Option(help: "Only entries at or before this time (RFC 3339).")
    var until: String?

    @Option(help: "Only entries within this long before --until or now (30m, 2h, 7d).")
    var since: String?

    @Option(help: "Output: text, csv or jsonl.")
    var format: String = "text"

    func validate() throws {
        if archives.isEmpty && eventFiles.isEmpty && auditorFiles.isEmpty && journals.isEmpty && states.isEmpty {
            throw ValidationError("give at least one --archive, --events, --auditor, --state or --journal")
        }
        guard TimelineFormat(rawValue: format) != nil else { throw ValidationError("--format: expected text, csv or jsonl") }
        if let address, TimelineQuery.subject(address) == nil {
            throw ValidationError("--address: expected an address, a network such as 203.0.113.0/24, or an address hash")
        }
        for (flag, value) in [("--from", from), ("--until", until)] {
            if let value, RFC3339.milliseconds(Array(value.utf8)) == nil {
                throw ValidationError("\(flag): expected an RFC 3339 time such as 2026-11-24T22:00:00Z")
            }
        }
        if let since, ConfigText.duration(since) == nil { throw ValidationError("--since: expected a duration such as 30m, 2h or 7d") }
        if since != nil, from != nil { throw ValidationError("--since and --from both set the start; give one") }
    }

    func run() throws {
        try reporting { try timeline() }
    }

    private func timeline() throws {
        var query = TimelineQuery(subject: address.flatMap(TimelineQuery.subject))
        query.until = until.flatMap { RFC3339.milliseconds(Array($0.utf8)) }
        query.from = from.flatMap { RFC3339.milliseconds(Array($0.utf8)) }
        if let since {
            let end = query.until ?? HostFacts.nowMilliseconds()
            query.from = end - ConfigText.milliseconds(ConfigText.duration(since)!)
        }
        var builder = TimelineBuilder(query: query)
        do {
            for path in archives { try builder.add(archive: path) }
            for path in eventFiles { try builder.add(file: path, as: .events) }
            for path in auditorFiles { try builder.add(file: path, as: .auditor) }
            for path in journals { try builder.add(file: path, as: .journal) }
        } catch {
            throw CLIFailure(message: "\(error)", status: 1)
        }
        defer { for database in builder.auditorDatabases { unlink(database.copy) } }
        let databases = states.map { ($0, $0) } + builder.auditorDatabases.map { ($0.entry, $0.copy) }
        for (name, path) in databases {
            let decisions: [StoredDecision]
            do {
                decisions = try Self.storedDecisions(path: path)
            } catch {
                throw CLIFailure(message: "\(name): \(error)", status: 1)
            }
            for stored in decisions {
                let decision = stored.decision
                var details: [TimelineEntry.Detail] = [
                    .init("scope", decision.scope.rawValue), .init("rule", decision.rule), .init("reason", decision.reason),
                    .init("until", RFC3339.format(milliseconds: decision.until)), .init("repeat", String(decision.repeatCount)),
                    .init("origin", decision.origin.rawValue), .init("simulated", String(decision.simulated)),
                ]
                if let ended = stored.ended { details.append(.init("ended", RFC3339.format(milliseconds: ended))) }
                builder.add(decisionOf: decision.value, created: decision.created, details: details, origin: "\(name)#\(stored.id)")
            }
        }
        let output = TimelineFormat(rawValue: format)!
        var text = ""
        if let header = output.header { text += header + "\n" }
        for entry in builder.ordered() {
            text += output.line(entry) + "\n"
            if text.utf8.count > 1 << 16 {
                print(text, terminator: "")
                text = ""
            }
        }
        print(text, terminator: "")
        for problem in builder.problems { printError("mtforensics: \(problem)") }
        if builder.problemsNotKept > 0 { printError("mtforensics: \(builder.problemsNotKept) more unreadable lines not named") }
        if !builder.problems.isEmpty { throw ExitCode(3) }
    }
}

extension TimelineCommand {
    /// Every decision in an auditor state database, ended ones included.
    static func storedDecisions(path: String) throws -> [StoredDecision] {
        let outcome = Synchronization.Mutex<Result<[StoredDecision], any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            do {
                let store = try await DecisionStore.open(path: path)
                do {
                    let decisions = try await store.decisions(since: Int64.min)
                    await store.close()
                    outcome.withLock { $0 = .success(decisions) }
                } catch {
                    await store.close()
                    outcome.withLock { $0 = .failure(error) }
                }
            } catch {
                outcome.withLock { $0 = .failure(error) }
            }
            done.signal()
        }
        done.wait()
        return try outcome.withLock { $0! }.get()
    }
}
