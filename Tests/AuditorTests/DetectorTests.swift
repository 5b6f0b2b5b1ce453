@testable import Auditor
import EventLog
import Testing

@Suite struct DetectorTests {
    @Test func slidingWindowCountsOnlyInsideTheWindow() {
        let counter = SlidingWindowCounter(count: 3, windowMilliseconds: 10_000)
        #expect(counter.observe(group: "a", value: nil, at: 0).overflow == nil)
        #expect(counter.observe(group: "a", value: nil, at: 5_000).overflow == nil)
        #expect(counter.observe(group: "b", value: nil, at: 6_000).overflow == nil)
        // 0 has left the window (it ends at 10 000, exclusive of 0)
        #expect(counter.observe(group: "a", value: nil, at: 10_000).overflow == nil)
        // out of order by 2 s, still inside the window
        let overflow = counter.observe(group: "a", value: nil, at: 8_000).overflow
        #expect(overflow == Overflow(count: 3, first: 5_000, last: 10_000))
        // the group starts afresh after firing
        #expect(counter.observe(group: "a", value: nil, at: 11_000).level == 1)
        counter.forgetIdle(now: 30_000)
        #expect(counter.groupCount == 0)
    }

    @Test func leakyBucketLeaksAndOverflows() {
        let bucket = LeakyBucket(capacity: 2, leakMilliseconds: 1_000)
        #expect(bucket.observe(group: "a", value: nil, at: 0).level == 1)
        #expect(bucket.observe(group: "a", value: nil, at: 0).level == 2)
        #expect(bucket.observe(group: "a", value: nil, at: 500).overflow != nil, "half an event leaked: 1.5 + 1 does not fit in 2")
        #expect(bucket.observe(group: "a", value: nil, at: 600).level == 1, "empty after overflowing")
        #expect(bucket.observe(group: "a", value: nil, at: 1_600).level == 1, "one event leaked in a second")
        #expect(bucket.observe(group: "a", value: nil, at: 1_600).level == 2)
        #expect(bucket.observe(group: "a", value: nil, at: 2_600).overflow == nil, "2 - 1 + 1 fits")
        bucket.forgetIdle(now: 4_000)
        #expect(bucket.groupCount == 1)
        bucket.forgetIdle(now: 4_700)
        #expect(bucket.groupCount == 0)
    }

    @Test func distinctCountsValuesNotEvents() {
        let counter = DistinctCounter(count: 3, windowMilliseconds: 60_000)
        for time in stride(from: Int64(0), to: 10_000, by: 1_000) {
            #expect(counter.observe(group: "p", value: "x", at: time).overflow == nil)
        }
        #expect(counter.observe(group: "p", value: "y", at: 20_000).level == 2)
        // "x" was last seen at 9 000, outside the window by 90 000
        #expect(counter.observe(group: "p", value: "z", at: 90_000).overflow == nil)
        #expect(counter.observe(group: "p", value: nil, at: 90_000).level == 0)
        #expect(counter.observe(group: "p", value: "w", at: 91_000).overflow == nil)
        #expect(counter.observe(group: "p", value: "v", at: 92_000).overflow?.count == 3)
    }

    static func baseline(floor: Double = 10) -> RateBaseline {
        RateBaseline(parameters: AnomalyParameters(measure: .events, intervalMilliseconds: 1_000, history: 20,
                                                   warmup: 5, k: 3, floor: floor))
    }

    static func feed(_ baseline: RateBaseline, interval: Int64, count: Int) -> [RateBaseline.Alert] {
        (0..<count).compactMap { index in
            baseline.observe(value: nil, at: interval * 1_000 + Int64(index * 1_000 / max(count, 1))).alert
        }
    }

    @Test func anomalyWaitsForItsWarmup() {
        let baseline = Self.baseline()
        for interval in 0..<5 { #expect(Self.feed(baseline, interval: Int64(interval), count: 100 * (interval + 1)).isEmpty) }
    }

    @Test func anomalyAlertsOncePerIntervalAboveMeanPlusKSigma() {
        let baseline = Self.baseline()
        for interval in 0..<10 { _ = Self.feed(baseline, interval: Int64(interval), count: 20) }
        // mean 20, σ = √20 ≈ 4.47: limit ≈ 33.4
        let alerts = Self.feed(baseline, interval: 10, count: 100)
        #expect(alerts.count == 1)
        #expect(alerts.first?.observed == 34)
        #expect(alerts.first.map { abs($0.limit - (20 + 3 * 20.0.squareRoot())) < 0.01 } == true)
        let calm = Self.baseline()
        for interval in 0..<10 { _ = Self.feed(calm, interval: Int64(interval), count: 20) }
        #expect(Self.feed(calm, interval: 10, count: 33).isEmpty)
    }

    @Test func anomalyFloorHoldsBackSmallRates() {
        let baseline = Self.baseline(floor: 50)
        for interval in 0..<10 { _ = Self.feed(baseline, interval: Int64(interval), count: 1) }
        #expect(Self.feed(baseline, interval: 10, count: 50).isEmpty)
        #expect(Self.feed(baseline, interval: 11, count: 51).count == 1)
    }

    @Test func anomalyColdStartUnderAttackDoesNotBecomeTheNorm() {
        let baseline = Self.baseline()
        _ = Self.feed(baseline, interval: 0, count: 1_000)
        for interval in 1..<8 { _ = Self.feed(baseline, interval: Int64(interval), count: 5) }
        #expect(Self.feed(baseline, interval: 8, count: 30).count == 1)
    }

    @Test func anomalyEmptyIntervalsCountAsZero() {
        let baseline = Self.baseline(floor: 5)
        for interval in 0..<10 { _ = Self.feed(baseline, interval: Int64(interval), count: 40) }
        // a long silence: the history fills with zeros, and 40 becomes unusual again
        baseline.advance(to: 100_000)
        #expect(Self.feed(baseline, interval: 100, count: 40).count == 1)
    }

    @Test func decisionsEscalateRespectTheAllowlistAndExpire() throws {
        var book = DecisionBook(allowlist: [try #require(CIDR("192.0.2.0/28"))])
        let policy = BanPolicy(target: .sourceIP, durationMilliseconds: 1_000, factor: 2, maximumMilliseconds: 3_000)
        guard case .decided(let first) = book.ban("203.0.113.7", rule: "r", reason: "x", policy: policy, at: 0) else {
            Issue.record("expected a decision"); return
        }
        #expect(first.until == 1_000 && first.repeatCount == 1 && first.scope == .ip)
        guard case .alreadyBanned = book.ban("203.0.113.7", rule: "r", reason: "x", policy: policy, at: 500) else {
            Issue.record("expected the ban in force"); return
        }
        guard case .decided(let second) = book.ban("203.0.113.7", rule: "r", reason: "x", policy: policy, at: 1_000) else {
            Issue.record("expected a second decision"); return
        }
        #expect(second.until == 3_000 && second.repeatCount == 2)
        guard case .decided(let third) = book.ban("203.0.113.7", rule: "r", reason: "x", policy: policy, at: 5_000) else {
            Issue.record("expected a third decision"); return
        }
        #expect(third.until == 8_000 && third.repeatCount == 3, "4 s capped at the 3 s maximum")
        #expect(book.ban("192.0.2.5", rule: "r", reason: "x", policy: policy, at: 0) == .allowlisted)
        #expect(book.ban("192.0.2.0/24", rule: "r", reason: "x", policy: policy, at: 0) == .allowlisted, "a network holding an allowlisted address")
        #expect(book.ban("192.0.0.0/16", rule: "r", reason: "x", policy: policy, at: 0) == .allowlisted)
        #expect(book.ban("192.0.2.16/28", rule: "r", reason: "x", policy: policy, at: 0) != .allowlisted)
        #expect(book.ban("not an address", rule: "r", reason: "x", policy: policy, at: 0) == .notBannable)
        if case .decided(let hashed) = book.ban("00112233445566778899aabbccddeeff", rule: "r", reason: "x", policy: policy, at: 0) {
            #expect(hashed.scope == .ipHash)
        } else {
            Issue.record("an ip_hash is bannable")
        }
        book.expire(now: 10_000)
        #expect(book.active.isEmpty)
    }

    @Test func reloadKeepsCountersOfUnchangedRules() throws {
        let yaml = "name: r\nkind: threshold\nmatch: { event.action: handshake.failed }\ngroup_by: [source.ip]\nwindow: 1m\ncount: 3\n"
        let rule = try Rule.parse(yaml: yaml, file: "r.yaml")
        let engine = RuleEngine(rules: [rule])
        var findings: [Finding] = []
        engine.process(.at(0, .handshakeFailed, ip: "203.0.113.1"), into: &findings)
        engine.process(.at(1, .handshakeFailed, ip: "203.0.113.1"), into: &findings)
        engine.replaceRules([rule, try Rule.parse(yaml: yaml.replacingOccurrences(of: "name: r", with: "name: s"), file: "s.yaml")])
        engine.process(.at(2, .handshakeFailed, ip: "203.0.113.1"), into: &findings)
        #expect(findings.compactMap { if case .alert(let alert) = $0 { alert.rule } else { nil } } == ["r"])
    }

    @Test func simulationMarksDecisions() throws {
        let rule = try Rule.parse(yaml: "name: t\nkind: trigger\ngroup_by: [source.ip]\nban: { duration: 1h }\n", file: "t.yaml")
        let engine = RuleEngine(rules: [rule], simulation: true)
        var findings: [Finding] = []
        engine.process(.at(0, .handshakeFailed, ip: "203.0.113.1"), into: &findings)
        #expect(findings.contains { if case .decision(let decision) = $0 { decision.simulated } else { false } })
    }

    @Test func derivedPrefixIsTheAddressNetwork() {
        var random = GroupTableTests.Stream(state: 9)
        for _ in 0..<500 {
            let address = (0..<4).map { _ in String(Int.random(in: 0...255, using: &random)) }.joined(separator: ".")
            #expect(EventField.prefix(of: address) == IPAddress(address)?.eventPrefix.description, "\(address)")
        }
        #expect(EventField.prefix(of: "2001:db8:1:2::7") == "2001:db8:1::/48")
        #expect(EventField.prefix(of: "203.0.113.07") == IPAddress("203.0.113.07")?.eventPrefix.description)
        #expect(EventField.prefix(of: "not an address") == nil)
        #expect(EventField.prefix(of: "203.0.113.7" + String(repeating: " ", count: 29)) == nil)
    }

    /// The bytes the engine counts by are the text `text(of:)` gives, for every field and
    /// for addresses canonical, odd or not addresses at all (a derived prefix included).
    @Test func fieldBytesSpellTheFieldText() {
        var random = GroupTableTests.Stream(state: 11)
        let addresses = ["203.0.113.7", "0.0.0.0", "255.255.255.255", "1.2.3.4", "203.0.113.07", "256.1.1.1", "1.2.3",
                         "1.2.3.4.5", "1..2.3", "2001:db8:1:2::7", "::ffff:198.51.100.9", "not an address", "",
                         "203.0.113.7 ", "12345.1.1.1", "1.2.3.0004"]
            + (0..<300).map { _ in (0..<4).map { _ in String(Int.random(in: 0...255, using: &random)) }.joined(separator: ".") }
        let fields: [EventField] = [.action, .outcome, .reason, .sourceIP, .sourcePort, .sourceIPHash, .sourcePrefix,
                                    .sourceAddress, .sessionID, .instance, .transport, .dc, .bytesIn, .label("k")]
        for address in addresses {
            for prefix in [nil, "198.51.100.0/24"] {
                for hash in [nil, "00112233445566778899aabbccddeeff"] {
                    let event = Event(timestampMilliseconds: 5, action: .handshakeFailed, outcome: .failure, reason: "bad_secret",
                                      sourceIP: address, sourcePort: 443, sourceIPHash: hash, sourcePrefix: prefix,
                                      sessionID: "s", instance: "i", transport: .faketls, dc: -2, bytesIn: 7, labels: ["k": "v"])
                    for field in fields {
                        let bytes = field.fieldText(of: event).map { $0.withBytes { String(decoding: $0, as: UTF8.self) } }
                        #expect(bytes == field.text(of: event), "\(field) of \(address)")
                    }
                }
            }
        }
    }

    /// `equals` and `one of` on text fields match exactly as `String` equality does, also
    /// where the engine compares ASCII values as keys: a decomposed or compatibility form
    /// (the Kelvin sign is canonically K) still matches, and near misses do not.
    @Test func textConditionsMatchAsStringEquality() throws {
        let reasons = ["K", "k", "\u{212A}", "bad_secret", "bad_secreT", "bad_secret ", "", "caf\u{e9}", "cafe\u{301}",
                       "replay", "a-very-long-reason-that-is-more-than-thirty-one-bytes", "00112233445566778899aabbccddeeff"]
        let lists: [[String]] = [["K"], ["bad_secret", "replay"], ["caf\u{e9}"], ["cafe\u{301}", "k"],
                                 ["a-very-long-reason-that-is-more-than-thirty-one-bytes"], ["00112233445566778899aabbccddeeff"], [""]]
        for list in lists {
            let values = list.map { "\"\($0.unicodeScalars.map { $0.isASCII ? String($0) : "\\u\(hex4($0.value))" }.joined())\"" }
            let yaml = "name: t\nkind: trigger\nmatch: { event.action: handshake.failed, event.reason: [\(values.joined(separator: ", "))] }\ngroup_by: [source.ip]\n"
            let engine = RuleEngine(rules: [try Rule.parse(yaml: yaml, file: "t.yaml")])
            for (index, reason) in reasons.enumerated() {
                var findings: [Finding] = []
                engine.process(.at(Double(index), .handshakeFailed, ip: "203.0.113.1", reason: reason), into: &findings)
                #expect(!findings.isEmpty == list.contains(reason), "\(reason.unicodeScalars.map(\.value)) in \(list)")
            }
        }
    }
}

/// Four hex digits of a BMP scalar, for a YAML `\u` escape.
private func hex4(_ value: UInt32) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}
