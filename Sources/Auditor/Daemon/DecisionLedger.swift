/// Where the daemon keeps decisions across restarts (the SQLite `DecisionStore`).
public protocol DecisionLedger: AnyObject {
    /// Stores new decisions.
    func record(_ decisions: [Decision]) async throws(AuditorError)
    /// Marks the decisions that ran out by `now` as ended; returns them.
    @discardableResult
    func expire(now: Int64) async throws(AuditorError) -> [Decision]
}
