/// The `exec` blocker: runs an operator's command once per change, from an argument-vector
/// template — never through a shell, so a value can only ever be one argument.
///
/// Placeholders, replaced inside any argument but the program: `{action}` (`add` or
/// `delete`), `{value}` (the address, network or `ip_hash`), `{scope}` (`ip`, `cidr`,
/// `ip_hash`), `{duration}` (whole seconds the ban has left; 0 for a delete). A command must
/// be idempotent: after a restart or a failure the bans in force are added again.
public struct ExecBlocker: Blocker {
    public let name = "exec"
    public let template: [String]
    public let scopes: Set<Decision.Scope>
    public let timeout: Duration

    /// `template` is the argument vector, e.g. `["/usr/local/bin/ban", "{action}", "{value}", "{duration}"]`.
    public init(template: [String], scopes: Set<Decision.Scope> = [.ip, .cidr], timeout: Duration = .seconds(10)) throws(AuditorError) {
        guard let program = template.first, !program.isEmpty else {
            throw AuditorError.blocker(name: "exec", message: "the command is empty")
        }
        guard !Self.placeholders.contains(where: { program.contains($0) }) else {
            throw AuditorError.blocker(name: "exec", message: "the program (\(program)) cannot be a placeholder; put placeholders in its arguments")
        }
        guard template.dropFirst().contains(where: { $0.contains("{value}") }) else {
            throw AuditorError.blocker(name: "exec", message: "the command never passes {value}")
        }
        self.template = template
        self.scopes = scopes
        self.timeout = timeout
    }

    static let placeholders = ["{action}", "{value}", "{scope}", "{duration}"]

    public func accepts(_ scope: Decision.Scope) -> Bool { scopes.contains(scope) }

    public func synchronize(active: [Decision], now: Int64) async throws(AuditorError) {
        try await apply(added: active, removed: [], now: now)
    }

    public func apply(added: [Decision], removed: [Decision], now: Int64) async throws(AuditorError) {
        var failed: [String] = []
        var firstFailure: String?
        let runs = removed.map { ($0, "delete", Int64(0)) } + added.filter { $0.until > now }.map { ($0, "add", ($0.until - now + 999) / 1000) }
        for (decision, action, seconds) in runs {
            let argv = arguments(action: action, decision: decision, seconds: seconds)
            let problem: String?
            do {
                let result = try await ChildProcess.runOffloaded(argv, timeout: timeout)
                problem = result.succeeded ? nil : "\(template[0]) \(action) \(decision.value): \(result.failure)"
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

    func arguments(action: String, decision: Decision, seconds: Int64) -> [String] {
        [template[0]] + template.dropFirst().map { argument in
            argument.replacing("{action}", with: action)
                .replacing("{scope}", with: decision.scope.rawValue)
                .replacing("{duration}", with: String(seconds))
                .replacing("{value}", with: decision.value)
        }
    }
}
