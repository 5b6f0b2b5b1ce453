/// `kind: distinct` — fires when one group shows `count` distinct values of a field
/// within `window` (one prefix probing many addresses, one address trying many secrets).
final class DistinctCounter: Detector {
    /// A group's values with the time each was last seen, searched in order: it never
    /// holds `count` of them (it fires then, or drops the expired), and counts are small.
    private struct Group {
        var values: [GroupKey] = []
        var lastSeen: [Int64] = []
        var latest: Int64 = .min

        mutating func add(_ value: GroupKey, _ time: Int64, count: Int, window: Int64) -> Observation {
            latest = max(latest, time)
            // A plain loop over the keys' words: the generic `firstIndex(of:)` was a visible
            // share of every failed handshake (distributed-scan-per-prefix).
            var found = -1
            values.withUnsafeBufferPointer { keys in
                for index in keys.indices where keys[index] == value {
                    found = index
                    break
                }
            }
            if found >= 0 {
                lastSeen[found] = max(lastSeen[found], time)
            } else {
                values.append(value)
                lastSeen.append(time)
            }
            // Expired values are only pruned when the count is reached, which keeps the
            // table at most `count` entries and the common path a single insert.
            if values.count >= count {
                let horizon = latest - window
                var kept = 0
                for index in values.indices where lastSeen[index] > horizon {
                    values[kept] = values[index]
                    lastSeen[kept] = lastSeen[index]
                    kept += 1
                }
                values.removeLast(values.count - kept)
                lastSeen.removeLast(lastSeen.count - kept)
            }
            guard values.count >= count else { return Observation(level: Double(values.count)) }
            let overflow = Overflow(count: values.count, first: lastSeen.min() ?? time, last: latest)
            values = []
            lastSeen = []
            return Observation(level: Double(overflow.count), overflow: overflow)
        }
    }

    /// Everything mutable, in one struct: one exclusive access per event.
    private struct Groups {
        /// Numbers long texts of both groups and values.
        var keys = GroupKeys()
        var table = GroupTable<Group>()
    }

    let count: Int
    let window: Int64
    // Unchecked: a detector is confined to the engine that owns it, which never reenters it;
    // the dynamic exclusivity check was a visible share of every event.
    @exclusivity(unchecked) private var groups = Groups()

    init(count: Int, windowMilliseconds: Int64) {
        self.count = count
        self.window = windowMilliseconds
    }

    func key(for text: UnsafeBufferPointer<UInt8>) -> GroupKey {
        groups.keys.key(for: text)
    }

    func observe(group: GroupKey, value: GroupKey?, at time: Int64) -> Observation {
        guard let value else { return Observation(level: 0) }
        let (count, window) = (self.count, self.window)
        return Self.observe(group, value, at: time, count: count, window: window, in: &groups)
    }

    private static func observe(_ group: GroupKey, _ value: GroupKey, at time: Int64, count: Int, window: Int64,
                                in groups: inout Groups) -> Observation {
        let position = groups.table.insert(group, fresh: Group())
        return groups.table[position].add(value, time, count: count, window: window)
    }

    func forgetIdle(now: Int64) {
        let horizon = now - window
        groups.table.removeAll(where: { $1.latest <= horizon || $1.values.isEmpty })
        guard groups.keys.hasNumbers else { return }
        var held = groups.table.numberedKeys
        groups.table.forEachGroup { _, group in
            for value in group.values where value.isNumbered { held.insert(value.w0) }
        }
        groups.keys.forget(keeping: held)
    }

    var groupCount: Int { groups.table.count }
}
