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
    /// The key of a group's (or a `distinct` value's) UTF-8 text; long texts are numbered
    /// by this detector, so a key is only meaningful to it.
    func key(for text: UnsafeBufferPointer<UInt8>) -> GroupKey
    /// Counts one matching event of the group keyed `group`; `value` is the key of the
    /// `distinct` field's value. Keys, as the engine makes them from the event's bytes (or
    /// straight from a packed `ip_hash`): no `String` is made for counting an event.
    func observe(group: GroupKey, value: GroupKey?, at time: Int64) -> Observation
    /// Drops groups with nothing left in their window as of `now`.
    func forgetIdle(now: Int64)
    var groupCount: Int { get }
}

extension Detector {
    /// `observe(group:value:at:)` with texts.
    func observe(group: String, value: String?, at time: Int64) -> Observation {
        var group = group
        let groupKey = group.withUTF8 { key(for: $0) }
        guard var value else { return observe(group: groupKey, value: nil, at: time) }
        return observe(group: groupKey, value: value.withUTF8 { key(for: $0) }, at: time)
    }
}
