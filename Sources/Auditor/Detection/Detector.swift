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
    /// Counts one matching event of the group whose text is the UTF-8 `group`; `value` is
    /// the `distinct` field's value. Bytes, as the engine reads them off the event: a
    /// short value becomes a `GroupKey` without a `String` ever being made.
    func observe(group: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>?, at time: Int64) -> Observation
    /// Drops groups with nothing left in their window as of `now`.
    func forgetIdle(now: Int64)
    var groupCount: Int { get }
}

extension Detector {
    /// `observe(group:value:at:)` with texts.
    func observe(group: String, value: String?, at time: Int64) -> Observation {
        var group = group
        return group.withUTF8 { group in
            guard var value else { return observe(group: group, value: nil, at: time) }
            return value.withUTF8 { observe(group: group, value: $0, at: time) }
        }
    }
}
