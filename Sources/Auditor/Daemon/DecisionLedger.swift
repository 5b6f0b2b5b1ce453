/// Where the daemon keeps decisions across restarts: the SQLite `DecisionStore`, shared
/// with `mtauditor decisions` (an operator's bans and unbans reach the daemon through it).
public protocol DecisionLedger: AnyObject, Sendable {
    /// Stores new decisions.
    func record(_ decisions: [Decision]) async throws(AuditorError)
    /// Marks the decisions that ran out by `now` as ended; returns them.
    func expire(now: Int64) async throws(AuditorError) -> [Decision]
    /// The decisions in force at `now`.
    func active(at now: Int64) async throws(AuditorError) -> [Decision]
    /// Every value's count of bans, for escalation.
    func banCounts() async throws(AuditorError) -> [String: Int]
}

extension DecisionStore: DecisionLedger {}
