import DequeModule

/// `kind: threshold` — fires when `count` events of one group fall within `window`.
final class SlidingWindowCounter: Detector {
    private struct Group {
        var times: Deque<Int64> = []
        var latest: Int64 = .min

        mutating func add(_ time: Int64, count: Int, window: Int64) -> Observation {
            latest = max(latest, time)
            times.append(time)
            // Events may arrive a few seconds out of order: the window ends at the latest
            // time seen, and a late event still counts if it is inside it.
            while let oldest = times.first, oldest <= latest - window { times.removeFirst() }
            guard times.count >= count else { return Observation(level: Double(times.count)) }
            let overflow = Overflow(count: times.count, first: times.min() ?? time, last: latest)
            times.removeAll(keepingCapacity: false)
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
        groups[group, default: Group()].add(time, count: count, window: window)
    }

    func forgetIdle(now: Int64) {
        groups = groups.filter { $0.value.latest > now - window && !$0.value.times.isEmpty }
    }

    var groupCount: Int { groups.count }
}
