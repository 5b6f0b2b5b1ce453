/// The `exec` blocker: runs an operator's command once per change, from argument-vector
/// templates — never through a shell, so a value can only ever be one argument.
///
/// Placeholders, replaced inside any argument but the program: `{value}` (the address,
/// network or `ip_hash`), `{scope}` (`ip`, `cidr`, `ip_hash`), `{rule}`, `{seconds}` or
/// `{duration}` (whole seconds the ban has left; 0 for a lift), `{action}` (`add` or
/// `delete`). Without an `unban` template, lifts run nothing (the command's own timeout
/// must end the ban). A command must be idempotent: after a restart or a failure the bans
/// in force are added again.
public struct ExecBlocker: Blocker {
    public let name = "exec"
    public let ban: [String]
    public let unban: [String]?
    public let scopes: Set<Decision.Scope>
    public let timeout: Duration

    /// `ban` and `unban` are argument vectors, e.g. `["/usr/local/bin/ban", "{value}", "{seconds}"]`.
    public init(ban: [String], unban: [String]? = nil, scopes: Set<Decision.Scope> = [.ip, .cidr],
                timeout: Duration = .seconds(10)) throws(AuditorError) {
        for template in [ban] + (unban.map { [$0] } ?? []) {
            guard let program = template.first, !program.isEmpty else {
                throw AuditorError.blocker(name: "exec", message: "the command is empty")
            }
            guard !Self.placeholders.contains(where: { program.contains($0) }) else {
                throw AuditorError.blocker(name: "exec", message: "the program (\(program)) cannot be a placeholder; put placeholders in its arguments")
            }
            guard template.dropFirst().contains(where: { $0.contains("{value}") }) else {
                throw AuditorError.blocker(name: "exec", message: "the command \(program) never passes {value}")
            }
        }
        self.ban = ban
        self.unban = unban
        self.scopes = scopes
        self.timeout = timeout
    }

    /// One template for both, told apart by `{action}`.
    public init(template: [String], scopes: Set<Decision.Scope> = [.ip, .cidr], timeout: Duration = .seconds(10)) throws(AuditorError) {
        try self.init(ban: template, unban: template, scopes: scopes, timeout: timeout)
    }

    static let placeholders = ["{action}", "{value}", "{scope}", "{rule}", "{seconds}", "{duration}"]

    public func accepts(_ scope: Decision.Scope) -> Bool { scopes.contains(scope) }

    public func synchronize(active: [Decision], now: Int64) async throws(AuditorError) {
        try await apply(added: active, removed: [], now: now)
    }

    public func apply(added: [Decision], removed: [Decision], now: Int64) async throws(AuditorError) {
        var failed: [String] = []
        var firstFailure: String?
        let lifts = unban == nil ? [] : removed.map { ($0, "delete", Int64(0)) }
        let runs = lifts + added.filter { $0.until > now }.map { ($0, "add", ($0.until - now + 999) / 1000) }
        for (decision, action, seconds) in runs {
            let argv = arguments(action == "add" ? ban : unban ?? ban, action: action, decision: decision, seconds: seconds)
            let problem: String?
            do {
                let result = try await ChildProcess.runOffloaded(argv, timeout: timeout)
                problem = result.succeeded ? nil : "\(argv[0]) \(action) \(decision.value): \(result.failure)"
            } catch {
                problem = error.message
            }
            if let problem {
                failed.append(decision.value)
                if firstFailure == nil { firstFailure = problem }
            }
        }
        if let firstFailure {
            throw AuditorError.blocker(name: name, message: "\(failed.count) of \(runs.count) commands failed; first: \(firstFailure)", values: failed)
        }
    }

    func arguments(_ template: [String], action: String, decision: Decision, seconds: Int64) -> [String] {
        [template[0]] + template.dropFirst().map { argument in
            argument.replacing("{action}", with: action)
                .replacing("{scope}", with: decision.scope.rawValue)
                .replacing("{seconds}", with: String(seconds))
                .replacing("{duration}", with: String(seconds))
                .replacing("{rule}", with: decision.rule)
                .replacing("{value}", with: decision.value)
        }
    }
}
