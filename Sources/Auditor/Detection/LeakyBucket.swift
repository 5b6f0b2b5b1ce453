/// `kind: leaky` — a bucket per group holding `capacity` events, leaking one every
/// `leak`; an event that finds the bucket full makes it overflow.
final class LeakyBucket: Detector {
    private struct Group {
        var level: Double = 0
        var updated: Int64 = .min
        var first: Int64 = 0

        mutating func add(_ time: Int64, capacity: Int, leak: Int64) -> Observation {
            if time > updated {
                if updated != .min { level = max(0, level - Double(time - updated) / Double(leak)) }
                updated = time
            }
            if level == 0 { first = time }
            // Out-of-order events leak nothing and simply pour in.
            guard level + 1 > Double(capacity) + 1e-9 else {
                level += 1
                return Observation(level: level)
            }
            let overflow = Overflow(count: capacity + 1, first: min(first, time), last: max(updated, time))
            level = 0
            return Observation(level: Double(capacity + 1), overflow: overflow)
        }

        func isEmpty(now: Int64, leak: Int64) -> Bool {
            updated == .min || level - Double(now - updated) / Double(leak) <= 0
        }
    }

    /// Everything mutable, in one struct: one exclusive access per event.
    private struct Groups {
        var keys = GroupKeys()
        var table = GroupTable<Group>()
    }

    let capacity: Int
    let leak: Int64
    // Unchecked: a detector is confined to the engine that owns it, which never reenters it;
    // the dynamic exclusivity check was a visible share of every event.
    @exclusivity(unchecked) private var groups = Groups()

    init(capacity: Int, leakMilliseconds: Int64) {
        self.capacity = capacity
        self.leak = leakMilliseconds
    }

    func key(for text: UnsafeBufferPointer<UInt8>) -> GroupKey {
        groups.keys.key(for: text)
    }

    func observe(group: GroupKey, value: GroupKey?, at time: Int64) -> Observation {
        let (capacity, leak) = (self.capacity, self.leak)
        return Self.observe(group, at: time, capacity: capacity, leak: leak, in: &groups)
    }

    private static func observe(_ group: GroupKey, at time: Int64, capacity: Int, leak: Int64, in groups: inout Groups) -> Observation {
        let position = groups.table.insert(group, fresh: Group())
        return groups.table[position].add(time, capacity: capacity, leak: leak)
    }

    func forgetIdle(now: Int64) {
        let leak = self.leak
        groups.table.removeAll(where: { $1.isEmpty(now: now, leak: leak) })
        if groups.keys.hasNumbers { groups.keys.forget(keeping: groups.table.numberedKeys) }
    }

    var groupCount: Int { groups.table.count }
}
