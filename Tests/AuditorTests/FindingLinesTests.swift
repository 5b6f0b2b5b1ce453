@testable import Auditor
import EventLog
import Testing

/// Replay's alert and decision lines, written with each rule's constant parts quoted once,
/// are the very bytes `Finding.appendJSONLine` writes, for any rule name, kind, group,
/// message, value, reason and duration.
@Suite struct FindingLinesTests {
    @Test(arguments: [1, 2, 3] as [UInt64])
    func alertLinesAreTheGeneralEncodersBytes(seed: UInt64) {
        var random = GroupTableTests.Stream(state: seed)
        let texts = ["replay-attempts", "", "r", "with \"quotes\" and \\", "tab\tnew\nline\u{1}", "caf\u{e9} \u{1F600}",
                     "Replayed handshake (active probing by replay).", String(repeating: "x", count: 300)]
        let fields = ["source.ip", "source.prefix", "labels.\"odd\"", "source.address"]
        let values = ["203.0.113.7", "", "198.51.100.0/24", "00112233445566778899aabbccddeeff", "\"\\\u{7F}"]
        func pick<T>(_ items: [T]) -> T { items[Int(random.next() % UInt64(items.count))] }
        // A few rules, so the cache is both filled and hit; more shapes than it holds.
        let rules = (0..<12).map { _ in (pick(texts), pick(["threshold", "trigger", "distinct", "leaky"]), pick(texts),
                                         (0..<Int(random.next() % 3)).map { _ in pick(fields) }) }
        var lines = FindingLines()
        for _ in 0..<3_000 {
            let (rule, kind, message, groupFields) = pick(rules)
            let group = groupFields.map { GroupValue(field: $0, value: pick(values)) }
            let time = Int64(random.next() % 4_000_000_000_000) - 100_000_000_000
            let overflow = random.next() % 4 == 0 ? nil : Overflow(count: Int(random.next() % 100), first: time - 5, last: time)
            let anomaly = random.next() % 10 == 0
                ? AnomalyFigures(measure: "events", intervalStart: time, intervalMilliseconds: 10_000, observed: 12.5,
                                 mean: 3, sigma: 1.25, limit: 8, recentIntervals: [1, 2])
                : nil
            let finding = Finding.alert(Alert(rule: rule, kind: kind, time: time, group: group, overflow: overflow,
                                              anomaly: anomaly, message: message))
            var expected: [UInt8] = [1, 2]
            finding.appendJSONLine(to: &expected)
            var written: [UInt8] = [1, 2]
            lines.append(finding, source: nil, to: &written)
            #expect(written == expected, "\(String(decoding: expected, as: UTF8.self))")
        }
        let scopes: [Decision.Scope] = [.ip, .cidr, .ipHash]
        let durations: [Int64] = [0, 1, 999, 60_000, 3_600_000, 86_400_000 * 7 + 1_234, 30 * 86_400_000]
        for _ in 0..<3_000 {
            let (rule, _, reason, _) = pick(rules)
            let created = Int64(random.next() % 4_000_000_000_000)
            let decision = Decision(value: pick(values), scope: pick(scopes), rule: rule, reason: reason, created: created,
                                    until: created + pick(durations), repeatCount: Int(random.next() % 9),
                                    origin: random.next() % 2 == 0 ? .rule : .manual, simulated: random.next() % 2 == 0)
            var expected: [UInt8] = [3]
            Finding.decision(decision).appendJSONLine(to: &expected)
            var written: [UInt8] = [3]
            lines.append(.decision(decision), source: nil, to: &written)
            #expect(written == expected, "\(String(decoding: expected, as: UTF8.self))")
        }
        // Matches go through the general encoder.
        let match = Finding.match(RuleMatch(rule: "r", group: [GroupValue(field: "source.ip", value: "x")], level: 1, limit: "any"))
        var expected: [UInt8] = []
        match.appendJSONLine(source: "f:1", to: &expected)
        var written: [UInt8] = []
        lines.append(match, source: "f:1", to: &written)
        #expect(written == expected)
    }
}
