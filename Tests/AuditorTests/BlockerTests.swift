@testable import Auditor
import EventLog
import Foundation
import Proxy
import Synchronization
import Testing

@Suite struct ProxyBlocklistBlockerTests {
    let scratch: ScratchDirectory
    var path: String { scratch.path + "/blocklist.txt" }

    init() throws {
        scratch = try ScratchDirectory("blocklist")
    }

    @Test func writesWhatTheProxysParserAccepts() async throws {
        defer { scratch.remove() }
        let blocker = ProxyBlocklistBlocker(path: path)
        let hash = "0123456789abcdef0123456789abcdef"
        try await blocker.apply(added: [decision("203.0.113.7"), decision("198.51.100.0/24"), decision("2001:db8::/48"),
                                        decision("2001:db8:1::5"), decision(hash)], removed: [], now: 1_000_000)
        let (blocklist, errors) = Blocklist.parse(try Data(contentsOf: URL(fileURLWithPath: path)), file: path)
        #expect(errors.isEmpty)
        #expect(blocklist.counts.addresses == 2)
        #expect(blocklist.counts.networks == 2)
        #expect(blocklist.counts.hashes == 1)
        #expect(blocklist.containsAddress(IPAddress("203.0.113.7")!))
        #expect(blocklist.containsAddress(IPAddress("198.51.100.200")!))
        #expect(blocklist.containsAddress(IPAddress("2001:db8::99")!))
        #expect(!blocklist.containsAddress(IPAddress("203.0.113.8")!))
        #expect(blocklist.containsHash(hash))
    }

    @Test func removedAndExpiredEntriesLeaveTheFile() async throws {
        defer { scratch.remove() }
        let blocker = ProxyBlocklistBlocker(path: path)
        try await blocker.synchronize(active: [decision("192.0.2.1", until: 2_000), decision("192.0.2.2", until: 9_000),
                                               decision("192.0.2.3", until: 9_000)], now: 1_000)
        #expect(await blocker.values == ["192.0.2.1", "192.0.2.2", "192.0.2.3"])
        try await blocker.apply(added: [], removed: [decision("192.0.2.3", until: 9_000)], now: 3_000)
        #expect(await blocker.values == ["192.0.2.2"])
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("#") }
        #expect(lines == ["192.0.2.2"])
    }

    @Test func aReaderNeverSeesAPartialFile() async throws {
        defer { scratch.remove() }
        let blocker = ProxyBlocklistBlocker(path: path)
        let small = [decision("192.0.2.1")]
        let large = (0..<1500).map { decision("10.\($0 / 256).\($0 % 256).1") }
        try await blocker.synchronize(active: small, now: 0)
        let expected = Set([try String(contentsOfFile: path, encoding: .utf8)])
        try await blocker.synchronize(active: large, now: 0)
        let versions = expected.union([try String(contentsOfFile: path, encoding: .utf8)])
        #expect(versions.count == 2)

        // A thread of its own, not a task: on a loaded machine the reader must run beside the writer.
        let reading = ReadingFlags()
        let path = self.path
        let reader = Thread {
            while !reading.stop.load(ordering: .acquiring) {
                guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
                reading.reads.add(1, ordering: .relaxed)
                if !versions.contains(text) { reading.torn.add(1, ordering: .relaxed) }
                usleep(100)
            }
            reading.finished.store(true, ordering: .releasing)
        }
        reader.start()
        var rounds = 0
        while rounds < 1_000 && (rounds < 60 || reading.reads.load(ordering: .relaxed) < 200) {
            try await blocker.synchronize(active: rounds.isMultiple(of: 2) ? small : large, now: 0)
            rounds += 1
        }
        reading.stop.store(true, ordering: .releasing)
        while !reading.finished.load(ordering: .acquiring) { try await Task.sleep(for: .milliseconds(10)) }
        #expect(reading.reads.load(ordering: .relaxed) >= 200)
        #expect(reading.torn.load(ordering: .relaxed) == 0)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: scratch.path).filter { $0 != "blocklist.txt" }
        #expect(leftovers.isEmpty)
    }

    @Test func anUnwritableDirectoryIsAReportedFailure() async throws {
        defer { scratch.remove() }
        let blocker = ProxyBlocklistBlocker(path: scratch.path + "/missing/blocklist.txt")
        let error = await #expect(throws: AuditorError.self) {
            try await blocker.apply(added: [decision("192.0.2.1")], removed: [], now: 0)
        }
        #expect(error?.description.contains("blocker proxy") == true)
        #expect(error?.description.contains("missing") == true)
    }
}

final class ReadingFlags: Sendable {
    let stop = Atomic<Bool>(false)
    let finished = Atomic<Bool>(false)
    let reads = Atomic<Int>(0)
    let torn = Atomic<Int>(0)
}

/// A blocker that records what it was given and fails as told.
actor RecordingBlocker: Blocker {
    nonisolated let name: String
    nonisolated let scopes: Set<Decision.Scope>
    var failuresLeft: Int
    var refusing: Set<String>
    var synchronizations: [[String]] = []
    var batches: [(added: [String], removed: [String])] = []

    init(name: String = "recording", scopes: Set<Decision.Scope> = Set(Decision.Scope.allCases), failures: Int = 0,
         refusing: Set<String> = []) {
        self.name = name
        self.scopes = scopes
        self.failuresLeft = failures
        self.refusing = refusing
    }

    nonisolated func accepts(_ scope: Decision.Scope) -> Bool { scopes.contains(scope) }

    func synchronize(active: [Decision], now: Int64) async throws(AuditorError) {
        if failuresLeft > 0 {
            failuresLeft -= 1
            throw AuditorError.blocker(name: name, message: "down")
        }
        synchronizations.append(active.map(\.value))
    }

    func apply(added: [Decision], removed: [Decision], now: Int64) async throws(AuditorError) {
        if failuresLeft > 0 {
            failuresLeft -= 1
            throw AuditorError.blocker(name: name, message: "down")
        }
        let refused = (added + removed).map(\.value).filter(refusing.contains)
        batches.append((added.map(\.value).filter { !refusing.contains($0) }, removed.map(\.value).filter { !refusing.contains($0) }))
        if !refused.isEmpty { throw AuditorError.blocker(name: name, message: "refused", values: refused) }
    }

    func stopRefusing() { refusing = [] }
}

final class TestClock: Sendable {
    private let time = Atomic<Int64>(1_000_000)
    var now: Int64 { time.load(ordering: .relaxed) }
    func advance(_ milliseconds: Int64) { time.add(milliseconds, ordering: .relaxed) }
}

@Suite struct BlockerSetTests {
    @Test func startSynchronizesAndBatchesFollow() async throws {
        let clock = TestClock()
        let blocker = RecordingBlocker()
        let blockers = BlockerSet(blockers: [blocker], clock: { clock.now })
        await blockers.start(active: [decision("192.0.2.1", until: 9_000_000)])
        await blockers.enforce(added: [decision("192.0.2.2", until: 9_000_000)], removed: [decision("192.0.2.1")])
        #expect(await blocker.synchronizations == [["192.0.2.1"]])
        #expect(await blocker.batches.map(\.added) == [["192.0.2.2"]])
        #expect(await blocker.batches.map(\.removed) == [["192.0.2.1"]])
        #expect(await blockers.statuses == [BlockerSet.BlockerStatus(name: "recording", applied: 3, failures: 0, pending: 0)])
    }

    @Test func simulatedDecisionsAndUnacceptedScopesAreNotGiven() async throws {
        let clock = TestClock()
        let kernel = RecordingBlocker(name: "kernel", scopes: [.ip, .cidr])
        let proxy = RecordingBlocker(name: "proxy")
        let blockers = BlockerSet(blockers: [kernel, proxy], clock: { clock.now })
        await blockers.start(active: [])
        let hash = "0123456789abcdef0123456789abcdef"
        await blockers.enforce(added: [decision("192.0.2.1", until: 9_000_000), decision(hash, until: 9_000_000),
                                          decision("192.0.2.9", until: 9_000_000, simulated: true)], removed: [])
        #expect(await kernel.batches.map(\.added) == [["192.0.2.1"]])
        #expect(await proxy.batches.map(\.added) == [[hash, "192.0.2.1"].sorted()])
    }

    @Test func aFailingBlockerIsRetriedWithBackoffAndReported() async throws {
        let clock = TestClock()
        let failing = RecordingBlocker(name: "failing", failures: 3)
        let healthy = RecordingBlocker(name: "healthy")
        let blockers = BlockerSet(blockers: [failing, healthy], clock: { clock.now })
        await blockers.start(active: [decision("192.0.2.1", until: 9_000_000)])
        await blockers.enforce(added: [decision("192.0.2.2", until: 9_000_000)], removed: [])
        #expect(await healthy.batches.map(\.added) == [["192.0.2.2"]])
        var status = try #require(await blockers.statuses.first)
        #expect(status.failures == 1)
        #expect(status.lastError?.contains("down") == true)
        #expect(await blockers.nextRetry == clock.now + BlockerSet.firstRetryDelay)

        await blockers.retryDue()
        #expect(await blockers.statuses.first?.failures == 1)
        clock.advance(BlockerSet.firstRetryDelay)
        await blockers.retryDue()
        #expect(await blockers.statuses.first?.failures == 2)
        #expect(await blockers.nextRetry == clock.now + 2 * BlockerSet.firstRetryDelay)
        clock.advance(2 * BlockerSet.firstRetryDelay)
        await blockers.retryDue()
        clock.advance(4 * BlockerSet.firstRetryDelay)
        await blockers.retryDue()
        status = try #require(await blockers.statuses.first)
        #expect(status.failures == 3)
        #expect(status.lastError == nil)
        #expect(status.pending == 0)
        // Whole failures rebuild the blocker from every decision in force, the new one included.
        #expect(await failing.synchronizations == [["192.0.2.1", "192.0.2.2"]])
        #expect(await blockers.nextRetry == nil)
    }

    @Test func onlyRefusedValuesAreRetried() async throws {
        let clock = TestClock()
        let blocker = RecordingBlocker(refusing: ["10.0.0.0/8"])
        let blockers = BlockerSet(blockers: [blocker], clock: { clock.now })
        await blockers.start(active: [])
        await blockers.enforce(added: [decision("10.0.0.0/8", until: 9_000_000), decision("192.0.2.1", until: 9_000_000)], removed: [])
        #expect(await blockers.statuses.first?.pending == 1)
        await blocker.stopRefusing()
        clock.advance(BlockerSet.firstRetryDelay)
        await blockers.retryDue()
        #expect(await blocker.batches.map(\.added) == [["192.0.2.1"], ["10.0.0.0/8"]])
        #expect(await blockers.statuses.first?.pending == 0)
    }

    @Test func backoffIsCapped() {
        #expect(BlockerSet.retryDelay(afterFailures: 1) == BlockerSet.firstRetryDelay)
        #expect(BlockerSet.retryDelay(afterFailures: 3) == 4 * BlockerSet.firstRetryDelay)
        #expect(BlockerSet.retryDelay(afterFailures: 60) == BlockerSet.longestRetryDelay)
    }
}
