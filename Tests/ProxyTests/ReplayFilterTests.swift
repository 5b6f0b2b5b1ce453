import MTCrypto
import NIOCore
import Testing
@testable import Proxy

@Suite struct ReplayFilterTests {
    static let start = NIODeadline.uptimeNanoseconds(1_000_000_000_000)

    static func key(_ n: Int) -> [UInt8] { withUnsafeBytes(of: n) { Array($0) } + [UInt8](repeating: 0x5a, count: 24) }

    @Test func secondSightingIsAReplay() {
        let filter = ReplayFilter()
        let random = SecureRandom.bytes(32)
        #expect(!filter.contains(random, now: Self.start))
        #expect(filter.checkAndInsert(random, now: Self.start))
        #expect(filter.contains(random, now: Self.start))
        #expect(!filter.checkAndInsert(random, now: Self.start + .seconds(1)))
        #expect(filter.checkAndInsert(SecureRandom.bytes(48), now: Self.start))
        #expect(filter.count == 2)
    }

    @Test func entriesLiveForTheirTimeToLive() {
        let filter = ReplayFilter(configuration: .init(capacity: 100, timeToLive: .minutes(30)))
        #expect(filter.checkAndInsert(Self.key(1), now: Self.start))
        #expect(filter.checkAndInsert(Self.key(2), now: Self.start + .minutes(10)))
        #expect(!filter.checkAndInsert(Self.key(1), now: Self.start + .minutes(30) - .nanoseconds(1)))
        #expect(filter.checkAndInsert(Self.key(1), now: Self.start + .minutes(30)), "expired: fresh again")
        #expect(filter.count == 2, "key 1 was evicted and inserted again; key 2 remains")
        #expect(!filter.checkAndInsert(Self.key(2), now: Self.start + .minutes(39)))
        #expect(!filter.checkAndInsert(Self.key(1), now: Self.start + .minutes(59)))
        #expect(filter.checkAndInsert(Self.key(3), now: Self.start + .hours(5)))
        #expect(filter.count == 1, "everything older than the time to live is gone")
    }

    @Test func capacityEvictsTheOldestFirst() {
        let filter = ReplayFilter(configuration: .init(capacity: 3, timeToLive: .hours(1)))
        for n in 0..<3 { #expect(filter.checkAndInsert(Self.key(n), now: Self.start + .seconds(Int64(n)))) }
        #expect(!filter.checkAndInsert(Self.key(0), now: Self.start + .seconds(5)), "a replay of the oldest, when full, is still a replay")
        #expect(filter.checkAndInsert(Self.key(3), now: Self.start + .seconds(6)))
        #expect(filter.count == 3)
        #expect(!filter.contains(Self.key(0), now: Self.start + .seconds(6)))
        #expect(filter.contains(Self.key(1), now: Self.start + .seconds(6)))
        for n in 4..<1000 { filter.checkAndInsert(Self.key(n), now: Self.start + .seconds(7)) }
        #expect(filter.count == 3)
        #expect((997..<1000).allSatisfy { filter.contains(Self.key($0), now: Self.start + .seconds(8)) })
    }

    @Test func clockGoingBackwardsDoesNotResurrectOrLoseEntries() {
        let filter = ReplayFilter(configuration: .init(capacity: 10, timeToLive: .seconds(10)))
        #expect(filter.checkAndInsert(Self.key(1), now: Self.start + .seconds(5)))
        #expect(filter.checkAndInsert(Self.key(2), now: Self.start))
        #expect(!filter.checkAndInsert(Self.key(2), now: Self.start + .seconds(9)))
        #expect(filter.checkAndInsert(Self.key(2), now: Self.start + .seconds(11)))
        #expect(!filter.checkAndInsert(Self.key(1), now: Self.start + .seconds(11)))
        #expect(!filter.checkAndInsert(Self.key(2), now: Self.start + .seconds(20)))
        #expect(filter.checkAndInsert(Self.key(2), now: Self.start + .seconds(21)))
    }

    /// Shared across event loops: every key is fresh exactly once, whoever sees it first.
    @Test func concurrentInsertersAgree() async {
        let filter = ReplayFilter(configuration: .init(capacity: 100_000, timeToLive: .minutes(30)))
        let fresh = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    (0..<2000).reduce(0) { count, n in count + (filter.checkAndInsert(Self.key(n), now: Self.start) ? 1 : 0) }
                }
            }
            return await group.reduce(0, +)
        }
        #expect(fresh == 2000)
        #expect(filter.count == 2000)
    }
}
