/// What a detector saw when one event of a group arrived.
struct Observation {
    /// How full the group is, in the detector's own unit (events, distinct values, level).
    var level: Double
    /// Set when this event made the group fire; the group starts afresh afterwards.
    var overflow: Overflow?
}

/// A group that fired: how much, and over which stretch of event time.
public struct Overflow: Sendable, Hashable {
    /// Events in the window, distinct values, or the bucket's level when it overflowed.
    public var count: Int
    public var first: Int64
    public var last: Int64

    public init(count: Int, first: Int64, last: Int64) {
        self.count = count
        self.first = first
        self.last = last
    }
}

/// Per-group state of one rule, driven only by event timestamps (milliseconds), so that
/// replay and live detection agree and tests need no clock. Detectors are classes to
/// mutate their group tables in place; each one is confined to the engine that owns it.
protocol Detector: AnyObject {
    /// Counts one matching event of `group`; `value` is the `distinct` field's value.
    func observe(group: String, value: String?, at time: Int64) -> Observation
    /// Drops groups with nothing left in their window as of `now`.
    func forgetIdle(now: Int64)
    var groupCount: Int { get }
}
