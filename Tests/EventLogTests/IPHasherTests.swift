import EventLog
import Testing

@Suite struct IPHasherTests {
    @Test func stableWithinADayAndUnlinkedAcrossDays() throws {
        let hasher = IPHasher()
        let address = try #require(IPAddress("203.0.113.7"))
        let morning: Int64 = 1_700_006_400_000 // 2023-11-15T00:00:00Z
        let a = hasher.hash(address, nowMilliseconds: morning)
        let b = hasher.hash(address, nowMilliseconds: morning + 86_399_999)
        let c = hasher.hash(address, nowMilliseconds: morning + 86_400_000)
        #expect(a == b)
        #expect(a != c)
        #expect(IPHasher.isHashText(a))
        #expect(a != hasher.hash(try #require(IPAddress("203.0.113.8")), nowMilliseconds: morning))
        #expect(!a.contains("203"))
    }

    @Test func injectedKeyIsDeterministic() throws {
        let hasher = IPHasher(makeKey: { Array(repeating: 7, count: 32) })
        let other = IPHasher(makeKey: { Array(repeating: 7, count: 32) })
        let address = try #require(IPAddress("2001:db8::1"))
        #expect(hasher.hash(address, nowMilliseconds: 0) == other.hash(address, nowMilliseconds: 0))
    }
}
