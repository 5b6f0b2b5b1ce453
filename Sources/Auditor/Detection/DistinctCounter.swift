/// `kind: distinct` — fires when one group shows `count` distinct values of a field
/// within `window` (one prefix probing many addresses, one address trying many secrets).
final class DistinctCounter: Detector {
    private struct Group {
        var lastSeen: [String: Int64] = [:]
        var latest: Int64 = .min

        mutating func add(_ value: String, _ time: Int64, count: Int, window: Int64) -> Observation {
            latest = max(latest, time)
            lastSeen[value] = max(lastSeen[value] ?? .min, time)
            // Expired values are only pruned when the count is reached, which keeps the
            // table at most `count` entries and the common path a single insert.
            if lastSeen.count >= count {
                let horizon = latest - window
                lastSeen = lastSeen.filter { $0.value > horizon }
            }
            guard lastSeen.count >= count else { return Observation(level: Double(lastSeen.count)) }
            let overflow = Overflow(count: lastSeen.count, first: lastSeen.values.min() ?? time, last: latest)
            lastSeen = [:]
            return Observation(level: Double(overflow.count), overflow: overflow)
        }
    }

    let count: Int
    let window: Int64
    private var groups: [String: Group] = [:]

    init(count: Int, windowMilliseconds: Int64) {
        self.count = count
        self.window = windowMilliseconds
    }

    func observe(group: String, value: String?, at time: Int64) -> Observation {
        guard let value else { return Observation(level: 0) }
        return groups[group, default: Group()].add(value, time, count: count, window: window)
    }

    func forgetIdle(now: Int64) {
        groups = groups.filter { $0.value.latest > now - window && !$0.value.lastSeen.isEmpty }
    }

    var groupCount: Int { groups.count }
}
