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

    @Test func rememberedPseudonymsMatchFreshOnesAndForgetTheDay() throws {
        let fixedKey: @Sendable () -> [UInt8] = { Array(repeating: 9, count: 32) }
        let hasher = IPHasher(makeKey: fixedKey)
        let day: Int64 = 1_700_006_400_000
        // More distinct addresses than the cache holds, each asked twice: every answer equals
        // what a hasher that never saw the address computes.
        for round in 0..<2 {
            for index in 0..<(IPHasher.cacheCapacity + 100) {
                let address = IPAddress.v4(0x0a00_0000 | UInt32(index))
                let fresh = IPHasher(makeKey: fixedKey).hash(address, nowMilliseconds: day)
                #expect(hasher.hash(address, nowMilliseconds: day) == fresh, "round \(round), address \(address)")
            }
        }
        // A new day means a new key: the remembered pseudonym is not reused.
        let rotating = IPHasher()
        let address = try #require(IPAddress("198.51.100.9"))
        let today = rotating.hash(address, nowMilliseconds: day)
        #expect(rotating.hash(address, nowMilliseconds: day + 1) == today)
        #expect(rotating.hash(address, nowMilliseconds: day + 86_400_000) != today)
    }

    @Test func manyAddressesStayConsistentPastTheCacheCapacity() {
        let hasher = IPHasher(makeKey: { Array(repeating: 3, count: 32) })
        let addresses = (0..<(2 * IPHasher.cacheCapacity + 7)).map { IPAddress.v6(0x2001_0db8_0000_0000, UInt64($0)) }
        let first = addresses.map { hasher.hash($0, nowMilliseconds: 0) }
        let second = addresses.map { hasher.hash($0, nowMilliseconds: 0) }
        #expect(first == second)
        #expect(Set(first).count == addresses.count)
    }
}
