@testable import Auditor
import EventLog
import Testing

/// The compact group tables and detectors against plain reference models (the
/// `[String: …]` and `Deque` forms the detectors had before), on random streams with
/// out-of-order times, long and hex keys, and idle sweeps.
@Suite struct GroupTableTests {
    /// A deterministic generator, so that a failure repeats.
    struct Stream: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func text(_ index: Int, _ random: inout Stream) -> String {
        switch index % 5 {
        case 0: "203.0.113.\(index % 256)"
        case 1: "key-\(index)" + String(repeating: "z", count: max(0, 32 - "key-\(index)".count))
        case 2: String(format32Hex: UInt64(index))
        case 3: "2001:db8:1234:5678:9abc:def0:\(index):1:2:3:\(index % 7)"
        default: index % 2 == 0 ? "" : "x\u{1F}\(index)"
        }
    }

    @Test func keysAreEqualExactlyWhenTextsAre() {
        var keys = GroupKeys()
        var random = Stream(state: 1)
        let texts = (0..<400).map { Self.text($0, &random) } + ["00112233445566778899AABBCCDDEEFF", "0011223344556677889900aabbccddeeff", "é"]
        let encoded = texts.map { keys.key(for: $0) }
        for (i, a) in texts.enumerated() {
            for (j, b) in texts.enumerated() where i <= j {
                #expect((encoded[i] == encoded[j]) == (a == b), "\(a) / \(b)")
            }
        }
    }

    @Test(arguments: [1, 2])
    func tableHoldsWhatADictionaryHolds(seed: UInt64) {
        var random = Stream(state: seed)
        var keys = GroupKeys()
        var table = GroupTable<Int>()
        var model: [String: Int] = [:]
        for step in 0..<4_000 {
            let text = Self.text(Int.random(in: 0..<3_000, using: &random), &random)
            let key = keys.key(for: text)
            let position = table.insert(key, fresh: 0)
            table[position] += 1
            model[text, default: 0] += 1
            if step % 400 == 399 {
                let cut = Int.random(in: 1...4, using: &random)
                table.removeAll(where: { _, value in value <= cut })
                model = model.filter { $0.value > cut }
            }
        }
        #expect(table.count == model.count)
        for (text, value) in model {
            let position = table.position(of: keys.key(for: text))
            #expect(position.map { table[$0] } == value, "\(text)")
        }
    }

    /// `kind: threshold` as it was: a `Deque` of times per `String` group.
    final class WindowModel {
        var groups: [String: (times: [Int64], latest: Int64)] = [:]
        let count: Int, window: Int64
        init(count: Int, window: Int64) { (self.count, self.window) = (count, window) }

        func observe(_ group: String, at time: Int64) -> Observation {
            var entry = groups[group] ?? ([], .min)
            defer { groups[group] = entry }
            entry.latest = max(entry.latest, time)
            entry.times.append(time)
            while let oldest = entry.times.first, oldest <= entry.latest - window { entry.times.removeFirst() }
            guard entry.times.count >= count else { return Observation(level: Double(entry.times.count)) }
            let overflow = Overflow(count: entry.times.count, first: entry.times.min() ?? time, last: entry.latest)
            entry.times.removeAll()
            return Observation(level: Double(overflow.count), overflow: overflow)
        }

        func forgetIdle(now: Int64) {
            groups = groups.filter { $0.value.latest > now - window && !$0.value.times.isEmpty }
        }
    }

    @Test(arguments: [(1, 1_000), (2, 5_000), (5, 10_000), (20, 60_000), (37, 30_000)])
    func slidingWindowMatchesTheDequeModel(count: Int, window: Int64) {
        var random = Stream(state: UInt64(count))
        let counter = SlidingWindowCounter(count: count, windowMilliseconds: window)
        let model = WindowModel(count: count, window: window)
        var clock: Int64 = 0
        var fired = 0
        for step in 0..<4_000 {
            clock += Int64.random(in: 0...200, using: &random)
            // a few seconds out of order now and then
            let time = clock - (Int.random(in: 0..<10, using: &random) == 0 ? Int64.random(in: 0...4_000, using: &random) : 0)
            let group = Self.text(Int.random(in: 0..<max(2, 40 / count), using: &random), &random)
            let got = counter.observe(group: group, value: nil, at: time)
            if got.overflow != nil { fired += 1 }
            let want = model.observe(group, at: time)
            #expect(got.level == want.level && got.overflow == want.overflow, "step \(step)")
            if step % 400 == 399 {
                counter.forgetIdle(now: clock)
                model.forgetIdle(now: clock)
                #expect(counter.groupCount == model.groups.count)
            }
        }
        #expect(fired > 0, "the stream must make groups fire")
    }

    /// `kind: distinct` as it was: a `[String: Int64]` of values per group.
    final class DistinctModel {
        var groups: [String: (lastSeen: [String: Int64], latest: Int64)] = [:]
        let count: Int, window: Int64
        init(count: Int, window: Int64) { (self.count, self.window) = (count, window) }

        func observe(_ group: String, _ value: String, at time: Int64) -> Observation {
            var entry = groups[group] ?? ([:], .min)
            defer { groups[group] = entry }
            entry.latest = max(entry.latest, time)
            entry.lastSeen[value] = max(entry.lastSeen[value] ?? .min, time)
            if entry.lastSeen.count >= count {
                let horizon = entry.latest - window
                entry.lastSeen = entry.lastSeen.filter { $0.value > horizon }
            }
            guard entry.lastSeen.count >= count else { return Observation(level: Double(entry.lastSeen.count)) }
            let overflow = Overflow(count: entry.lastSeen.count, first: entry.lastSeen.values.min() ?? time, last: entry.latest)
            entry.lastSeen = [:]
            return Observation(level: Double(overflow.count), overflow: overflow)
        }

        func forgetIdle(now: Int64) {
            groups = groups.filter { $0.value.latest > now - window && !$0.value.lastSeen.isEmpty }
        }
    }

    @Test(arguments: [(2, 5_000), (4, 60_000), (16, 30_000)])
    func distinctMatchesTheDictionaryModel(count: Int, window: Int64) {
        var random = Stream(state: UInt64(count) + 100)
        let counter = DistinctCounter(count: count, windowMilliseconds: window)
        let model = DistinctModel(count: count, window: window)
        var clock: Int64 = 0
        var fired = 0
        for step in 0..<4_000 {
            clock += Int64.random(in: 0...300, using: &random)
            let time = clock - (Int.random(in: 0..<10, using: &random) == 0 ? Int64.random(in: 0...4_000, using: &random) : 0)
            let group = Self.text(Int.random(in: 0..<10, using: &random), &random)
            let value = Self.text(Int.random(in: 0..<60, using: &random), &random)
            let got = counter.observe(group: group, value: value, at: time)
            if got.overflow != nil { fired += 1 }
            let want = model.observe(group, value, at: time)
            #expect(got.level == want.level && got.overflow == want.overflow, "step \(step)")
            if step % 400 == 399 {
                counter.forgetIdle(now: clock)
                model.forgetIdle(now: clock)
                #expect(counter.groupCount == model.groups.count)
            }
        }
        #expect(fired > 0, "the stream must make groups fire")
    }
}

extension String {
    /// 32 lowercase hex digits, the form of an `ip_hash`.
    init(format32Hex value: UInt64) {
        let hex = String(value &* 0x9E37_79B9_7F4A_7C15, radix: 16)
        self = String(repeating: "0", count: 16 - hex.count) + hex + String(repeating: "f", count: 16)
    }
}
