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

    let capacity: Int
    let leak: Int64
    private var groups: [String: Group] = [:]

    init(capacity: Int, leakMilliseconds: Int64) {
        self.capacity = capacity
        self.leak = leakMilliseconds
    }

    func observe(group: String, value: String?, at time: Int64) -> Observation {
        groups[group, default: Group()].add(time, capacity: capacity, leak: leak)
    }

    func forgetIdle(now: Int64) {
        groups = groups.filter { !$0.value.isEmpty(now: now, leak: leak) }
    }

    var groupCount: Int { groups.count }
}
