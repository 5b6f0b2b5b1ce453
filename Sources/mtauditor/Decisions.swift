import ArgumentParser
import Auditor
import ConfigFile
import EventLog

extension MTAuditor {
    struct Decisions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List, add and delete decisions in the auditor's state store.",
            subcommands: [List.self, Add.self, Delete.self]
        )
    }
}

/// Where the decisions live and which blockers a manual change goes to at once: the
/// auditor's configuration (`--config`), or a state file and a blocklist given directly.
struct StateOptions: ParsableArguments {
    @Option(help: "The auditor configuration file: its state store, allowlist and blockers are used.")
    var config: String?

    @Option(help: "The auditor's state file (the configuration's `state:`), instead of --config.")
    var state: String?

    @Option(help: "The proxy's blocklist file to rewrite after a change, instead of --config's blockers.")
    var blocklist: String?

    func validate() throws {
        if (config == nil) == (state == nil) { throw ValidationError("give either --config FILE or --state PATH") }
        if config != nil && blocklist != nil { throw ValidationError("--blocklist goes with --state; --config names its own blockers") }
    }

    /// The state path, the allowlist and the blockers to apply changes to.
    func resolve() throws(AuditorError) -> (state: String, allowlist: [CIDR], blockers: [any Blocker]) {
        guard let config else {
            return (state ?? "", [], blocklist.map { [ProxyBlocklistBlocker(path: $0)] } ?? [])
        }
        let configuration: AuditorConfiguration
        do {
            configuration = try AuditorConfiguration.load(path: config)
        } catch {
            throw AuditorError.input(path: "--config", message: error.description)
        }
        guard let state = configuration.state else {
            throw AuditorError.input(path: config, message: "state: is null; there is no state store to hold decisions")
        }
        var blockers: [any Blocker] = []
        for settings in configuration.blockers { blockers.append(try settings.makeBlocker()) }
        return (state, configuration.allowlist, configuration.simulation ? [] : blockers)
    }
}

/// Applies a manual change to the blockers: the proxy's blocklist is rewritten whole from the
/// decisions in force; the others get just the change. A failure is reported, not retried:
/// the change is in the store, and the daemon enforces it at its next start.
func apply(added: [Decision], removed: [Decision], to blockers: [any Blocker], store: DecisionStore, now: Int64) async throws(AuditorError) {
    var failures: [String] = []
    for blocker in blockers {
        do {
            if blocker is ProxyBlocklistBlocker {
                try await blocker.synchronize(active: try await store.active(at: now).filter { !$0.simulated }, now: now)
            } else {
                try await blocker.apply(added: added.filter { blocker.accepts($0.scope) },
                                        removed: removed.filter { blocker.accepts($0.scope) }, now: now)
            }
        } catch {
            failures.append(error.description)
        }
    }
    if !failures.isEmpty {
        throw AuditorError.blocker(name: "decisions", message: "the change is stored, but " + failures.joined(separator: "; "))
    }
}

/// Opens the store, runs `body`, closes the store; errors become a message and exit status 1.
func withStore(_ options: StateOptions,
               _ body: (DecisionStore, (allowlist: [CIDR], blockers: [any Blocker])) async throws(AuditorError) -> Void) async throws {
    let store: DecisionStore
    let settings: (state: String, allowlist: [CIDR], blockers: [any Blocker])
    do {
        settings = try options.resolve()
        store = try await DecisionStore.open(path: settings.state)
    } catch {
        printError(error.description)
        throw ExitCode(1)
    }
    do {
        try await body(store, (settings.allowlist, settings.blockers))
        await store.close()
    } catch {
        await store.close()
        printError(error.description)
        throw ExitCode(1)
    }
}

extension MTAuditor.Decisions {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the decisions in force (or, with --all, every one stored).")

        @OptionGroup var options: StateOptions

        @Flag(help: "One JSON object a line instead of a table.")
        var json = false

        @Flag(help: "Also decisions that have ended (expired or deleted).")
        var all = false

        func run() async throws {
            let now = Event.nowMilliseconds()
            try await withStore(options) { store, _ throws(AuditorError) in
                let decisions: [(Decision, Int64?)] = all
                    ? try await store.decisions(since: .min).map { ($0.decision, $0.ended) }
                    : try await store.active(at: now).map { ($0, nil) }
                var output = OutputBuffer()
                if json {
                    for (decision, ended) in decisions {
                        var line = Finding.decision(decision).jsonLine()
                        if let ended { line = String(line.dropLast()) + ",\"ended\":\"\(Event.timestampText(milliseconds: ended))\"}" }
                        output.write(line)
                    }
                } else {
                    for line in DecisionTable.lines(decisions, now: now) { output.write(line) }
                }
                output.flush()
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Ban an address, network or ip_hash by hand.")

        @OptionGroup var options: StateOptions

        @Argument(help: "An IPv4 or IPv6 address, a network (203.0.113.0/24) or an ip_hash.")
        var value: String

        @Option(help: "How long: 30s, 5m, 2h, 7d.")
        var duration: String

        @Option(help: "Why, for the record and the reports.")
        var reason: String

        @Option(help: "An address or network never to ban (repeatable); the ban is refused if the value touches one.")
        var allowlist: [String] = []

        func validate() throws {
            guard let length = ConfigText.duration(duration), length > .zero else {
                throw ValidationError("--duration: expected a positive duration such as 30s, 5m, 2h or 7d, found \"\(duration)\"")
            }
            if Decision.Scope(value: value) == nil {
                throw ValidationError("\"\(value)\" is not an IP address, a network (host bits zero) or an ip_hash")
            }
        }

        func run() async throws {
            let now = Event.nowMilliseconds()
            let milliseconds = ConfigText.milliseconds(ConfigText.duration(duration) ?? .zero)
            try await withStore(options) { store, settings throws(AuditorError) in
                let (decision, replaced) = try await store.banManually(value, durationMilliseconds: milliseconds, reason: reason,
                                                                       allowlist: settings.allowlist + (try DecisionBook.allowlist(allowlist)),
                                                                       at: now)
                try await apply(added: [decision], removed: replaced, to: settings.blockers, store: store, now: now)
                printError("banned \(decision.value) until \(Event.timestampText(milliseconds: decision.until))"
                           + (replaced.isEmpty ? "" : " (replacing the ban in force)") + ", ban #\(decision.repeatCount) of this value")
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Lift the ban in force on a value.")

        @OptionGroup var options: StateOptions

        @Argument(help: "The banned value, as `decisions list` shows it.")
        var value: String

        func run() async throws {
            let now = Event.nowMilliseconds()
            try await withStore(options) { store, settings throws(AuditorError) in
                let lifted = try await store.lift(value, at: now)
                guard !lifted.isEmpty else {
                    throw AuditorError.input(path: value, message: "no decision in force on this value")
                }
                try await apply(added: [], removed: lifted, to: settings.blockers, store: store, now: now)
                printError("lifted the ban on \(value)")
            }
        }
    }
}

/// Decisions as an aligned text table.
enum DecisionTable {
    static func lines(_ decisions: [(Decision, Int64?)], now: Int64) -> [String] {
        var rows = [["VALUE", "SCOPE", "ORIGIN", "RULE", "UNTIL", "LEFT", "REPEAT", "REASON"]]
        for (decision, ended) in decisions {
            let left = ended != nil ? "ended" : decision.until > now ? ConfigText.format(.milliseconds((decision.until - now) / 1000 * 1000)) : "expired"
            rows.append([decision.value, decision.scope.rawValue, decision.origin.rawValue + (decision.simulated ? " (simulated)" : ""),
                         decision.rule, Event.timestampText(milliseconds: decision.until), left, String(decision.repeatCount),
                         decision.reason])
        }
        if decisions.isEmpty { return ["no decisions"] }
        var widths = [Int](repeating: 0, count: rows[0].count)
        for row in rows { for (index, cell) in row.enumerated() { widths[index] = max(widths[index], cell.count) } }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[index] - cell.count)
            }.joined(separator: "  ")
        }
    }
}
