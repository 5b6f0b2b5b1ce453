/// Something that enforces decisions: the proxy's blocklist file, an nftables set, an
/// operator's command. `BlockerSet` drives every blocker, retries what failed and keeps
/// the figures; a blocker only applies what it is given.
///
/// Times are milliseconds since the epoch, on the clock decisions are made with: a blocker
/// that needs a remaining duration computes `decision.until - now`.
public protocol Blocker: Sendable {
    /// A short name for logs and metric labels: `proxy`, `nftables`, `exec`.
    var name: String { get }

    /// Whether this blocker can enforce a value of this scope (nftables takes no `ip_hash`).
    func accepts(_ scope: Decision.Scope) -> Bool

    /// Makes the blocker hold exactly `active`: at start, and to repair it after a failure
    /// that left its state unknown.
    func synchronize(active: [Decision], now: Int64) async throws(AuditorError)

    /// Enforces `added` and lifts `removed`, as one batch. On failure it throws
    /// `AuditorError.blocker`: with `values` naming the values not applied when only some
    /// failed (those are retried), or with no values when the whole batch failed (the
    /// blocker is then synchronized again before anything else).
    func apply(added: [Decision], removed: [Decision], now: Int64) async throws(AuditorError)
}

extension Blocker {
    public func accepts(_ scope: Decision.Scope) -> Bool { true }
}
