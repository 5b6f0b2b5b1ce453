import EventLog
import Testing

@Suite struct PrivacyPolicyTests {
    static let hasher = IPHasher(makeKey: { Array(repeating: 9, count: 32) })
    static let day: Int64 = 1_700_006_400_000

    static func routine(ip: String = "203.0.113.7") -> Event {
        Event(timestampMilliseconds: day, action: .sessionClosed, outcome: .success,
              sourceIP: ip, sourcePort: 51000, sessionID: "s1", dc: 2,
              bytesIn: 1025, bytesOut: 0, durationMilliseconds: 1001)
    }

    static func abuse(ip: String = "203.0.113.7") -> Event {
        Event(timestampMilliseconds: day, action: .handshakeFailed, outcome: .failure, reason: EventReason.badSecret,
              sourceIP: ip, sourcePort: 51000, sessionID: "s2", bytesIn: 64, durationMilliseconds: 12)
    }

    @Test func fullKeepsEverythingAndAddsThePrefix() {
        let policy = PrivacyPolicy(mode: .full, hasher: Self.hasher)
        let event = policy.apply(to: Self.routine())
        #expect(event.sourceIP == "203.0.113.7")
        #expect(event.sourcePort == 51000)
        #expect(event.sourcePrefix == "203.0.113.0/24")
        #expect(event.sourceIPHash == nil)
        #expect(event.bytesIn == 1025 && event.bytesOut == 0 && event.durationMilliseconds == 1001)
        #expect(policy.apply(to: Self.routine(ip: "2001:db8:1:2::5")).sourcePrefix == "2001:db8:1::/48")
    }

    @Test func minimizedHashesRoutineEvents() {
        let policy = PrivacyPolicy(mode: .minimized, hasher: Self.hasher)
        let event = policy.apply(to: Self.routine())
        #expect(event.sourceIP == nil)
        #expect(event.sourcePort == nil)
        #expect(event.sourceIPHash == Self.hasher.hash(IPAddress("203.0.113.7")!, nowMilliseconds: Self.day))
        #expect(event.sourcePrefix == "203.0.113.0/24")
        #expect(event.bytesIn == 2048)
        #expect(event.bytesOut == 0)
        #expect(event.durationMilliseconds == 2000)
        #expect(event.sessionID == "s1" && event.dc == 2)
        let line = String(decoding: event.jsonLine(), as: UTF8.self)
        #expect(!line.contains("203.0.113.7") && !line.contains("51000"))
        #expect(PrivacyPolicy(mode: .minimized, hasher: Self.hasher).apply(to: Self.routine()) == event)
    }

    @Test(arguments: [EventAction.connectionRejected, .handshakeFailed, .probeForwarded])
    func minimizedKeepsTheAddressOnAbuseEvidence(action: EventAction) {
        var evidence = Self.abuse()
        evidence.action = action
        let event = PrivacyPolicy(mode: .minimized, hasher: Self.hasher).apply(to: evidence)
        #expect(event.sourceIP == "203.0.113.7")
        #expect(event.sourcePort == 51000)
        #expect(event.sourcePrefix == "203.0.113.0/24")
        #expect(event.sourceIPHash == nil)
        #expect(event.bytesIn == 1024 && event.durationMilliseconds == 1000)
    }

    @Test func minimizedNeverWritesAnUnparsableAddress() {
        let policy = PrivacyPolicy(mode: .minimized, hasher: Self.hasher)
        let routine = policy.apply(to: Self.routine(ip: "not-an-ip 10.0.0.1"))
        #expect(routine.sourceIP == nil && routine.sourceIPHash == nil && routine.sourcePrefix == nil)
        let evidence = policy.apply(to: Self.abuse(ip: "garbage"))
        #expect(evidence.sourceIP == nil)
    }

    @Test func minimizedWritesMappedAddressesInTheirIPv4Form() {
        let event = PrivacyPolicy(mode: .minimized, hasher: Self.hasher).apply(to: Self.abuse(ip: "::ffff:198.51.100.9"))
        #expect(event.sourceIP == "198.51.100.9")
        #expect(event.sourcePrefix == "198.51.100.0/24")
    }

    @Test(arguments: [Self.routine(), Self.abuse()])
    func noneRemovesEveryAddressField(original: Event) {
        var given = original
        given.sourceIPHash = "00112233445566778899aabbccddeeff"
        given.sourcePrefix = "203.0.113.0/24"
        let event = PrivacyPolicy(mode: .none, hasher: Self.hasher).apply(to: given)
        #expect(event.sourceIP == nil && event.sourcePort == nil)
        #expect(event.sourceIPHash == nil && event.sourcePrefix == nil)
        #expect(event.sessionID == original.sessionID)
        #expect(event.bytesIn.map { $0 % 1024 == 0 } ?? true)
        #expect(event.durationMilliseconds.map { $0 % 1000 == 0 } ?? true)
    }

    @Test(arguments: [
        (UInt64(0), UInt64(0)), (1, 1024), (1024, 1024), (1025, 2048), (UInt64.max, UInt64.max / 1024 * 1024),
    ])
    func byteCountsRoundUpToKiB(exact: UInt64, rounded: UInt64) {
        var event = Self.routine()
        event.bytesOut = exact
        #expect(PrivacyPolicy(mode: .minimized, hasher: Self.hasher).apply(to: event).bytesOut == rounded)
    }
}
