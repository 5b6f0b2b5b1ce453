@testable import Auditor
import EventLog
import Foundation
import Logging
import ServiceLifecycle
import ServiceLifecycleTestKit
import Synchronization
import Testing

/// The daemon's pipeline over a temporary directory: real files, real rules, a recording
/// blocker and a clock the test moves.
@Suite struct AuditorDaemonTests {
    static let start: Int64 = 1_780_000_000_000

    final class Clock: Sendable {
        let milliseconds = Mutex<Int64>(AuditorDaemonTests.start)
        func now() -> Int64 { milliseconds.withLock { $0 } }
        func advance(_ delta: Int64) { milliseconds.withLock { $0 += delta } }
    }

    /// A blocker that records what it holds; it can be told to fail.
    final class RecordingBlocker: @unchecked Sendable {
        private let lock = Mutex(())
        private var held: Set<String> = []
        private var failuresLeft = 0
        private(set) var calls = 0

        func failNext(_ count: Int) { lock.withLock { _ in failuresLeft = count } }
        var values: Set<String> { lock.withLock { _ in held } }

        var target: EnforcementTarget {
            EnforcementTarget(name: "recording", ban: { decisions in
                try self.lock.withLock { _ in
                    self.calls += 1
                    if self.failuresLeft > 0 {
                        self.failuresLeft -= 1
                        throw TestFailure("refused")
                    }
                    for decision in decisions { self.held.insert(decision.value) }
                }
            }, unban: { decisions in
                self.lock.withLock { _ in for decision in decisions { self.held.remove(decision.value) } }
            })
        }
    }

    let directory: String
    let events: String
    let rules: String
    let clock = Clock()

    init() throws {
        directory = NSTemporaryDirectory() + "daemon-\(UInt64.random(in: 0...UInt64.max))"
        events = directory + "/events.jsonl"
        rules = directory + "/rules"
        try FileManager.default.createDirectory(atPath: rules, withIntermediateDirectories: true)
        try Self.failureRule.write(toFile: rules + "/failures.yaml", atomically: true, encoding: .utf8)
        _ = FileManager.default.createFile(atPath: events, contents: nil)
    }

    static let failureRule = """
        name: failures
        kind: threshold
        match: { event.action: handshake.failed }
        group_by: [source.ip]
        window: 1m
        count: 5
        ban: { duration: 10m }
        """

    func cleanUp() { try? FileManager.default.removeItem(atPath: directory) }

    func configuration(simulation: Bool = false, allowlist: [String] = []) -> AuditorConfiguration {
        var configuration = AuditorConfiguration()
        configuration.sources = [events]
        configuration.rules = rules
        configuration.state = nil
        configuration.simulation = simulation
        configuration.allowlist = allowlist.compactMap { CIDR($0) }
        configuration.expiryIntervalMilliseconds = 10
        return configuration
    }

    func pipeline(_ configuration: AuditorConfiguration, blocker: RecordingBlocker,
                  positions: any TailPositionStore = MemoryTailPositionStore(), metrics: AuditorMetrics = AuditorMetrics()) throws -> AuditorPipeline {
        AuditorPipeline(configuration: configuration, rules: try RuleDirectory.load(path: rules),
                        sources: [EventTail(path: events, store: positions)], targets: [blocker.target],
                        metrics: metrics, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), now: clock.now)
    }

    static func line(_ ip: String, at time: Int64, action: String = "handshake.failed", session: Int = 0) -> String {
        #"{"@timestamp":"\#(Event.timestampText(milliseconds: time))","event.action":"\#(action)","event.outcome":"failure","event.reason":"bad_secret","source.ip":"\#(ip)","session.id":"\#(session)"}"# + "\n"
    }

    func append(_ text: String, to path: String? = nil) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path ?? events))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
        try handle.close()
    }

    func failures(_ ip: String, count: Int, from first: Int = 0) -> String {
        (0..<count).map { Self.line(ip, at: clock.now() - 1_000 + Int64($0), session: first + $0) }.joined()
    }

    @Test func floodIsBannedThenLiftedWhenTheBanRunsOut() async throws {
        defer { cleanUp() }
        let blocker = RecordingBlocker()
        let metrics = AuditorMetrics()
        let pipeline = try pipeline(configuration(), blocker: blocker, metrics: metrics)
        try append(failures("203.0.113.7", count: 4) + failures("198.51.100.1", count: 2))
        await pipeline.step()
        #expect(blocker.values.isEmpty)
        try append(failures("203.0.113.7", count: 1, from: 4))
        await pipeline.step()
        #expect(blocker.values == ["203.0.113.7"])
        #expect(pipeline.counts.alerts == 1 && pipeline.counts.decisions == 1)
        let exposition = String(decoding: metrics.exposition(), as: UTF8.self)
        #expect(exposition.contains("mtauditor_events_read_total 7"))
        #expect(exposition.contains(#"mtauditor_alerts_total{rule="failures"} 1"#))
        #expect(exposition.contains("mtauditor_active_bans 1"))

        clock.advance(10 * 60_000 - 1_500)
        await pipeline.step()
        #expect(blocker.values == ["203.0.113.7"])
        clock.advance(1_000)
        await pipeline.step()
        #expect(blocker.values.isEmpty)
        #expect(pipeline.counts.expired == 1)
        #expect(String(decoding: metrics.exposition(), as: UTF8.self).contains("mtauditor_active_bans 0"))
    }

    @Test func allowlistedAndSimulatedDecisionsReachNoBlocker() async throws {
        defer { cleanUp() }
        let allowed = RecordingBlocker()
        let allowlisted = try pipeline(configuration(allowlist: ["203.0.113.0/24"]), blocker: allowed)
        try append(failures("203.0.113.7", count: 6))
        await allowlisted.step()
        #expect(allowlisted.counts.alerts == 1 && allowlisted.counts.decisions == 0)
        #expect(allowed.calls == 0)

        let simulated = RecordingBlocker()
        let simulation = try pipeline(configuration(simulation: true), blocker: simulated)
        await simulation.step()
        #expect(simulation.counts.decisions == 1)
        #expect(simulated.calls == 0 && simulation.inForce.isEmpty)
    }

    @Test func malformedLinesAreCountedAndSkipped() async throws {
        defer { cleanUp() }
        let blocker = RecordingBlocker()
        let metrics = AuditorMetrics()
        let pipeline = try pipeline(configuration(), blocker: blocker, metrics: metrics)
        try append(failures("203.0.113.7", count: 2) + "not json\n{\"event.action\":1}\n" + failures("203.0.113.7", count: 3, from: 2))
        await pipeline.step()
        #expect(pipeline.counts.malformed == 2)
        #expect(pipeline.counts.events == 5)
        #expect(blocker.values == ["203.0.113.7"])
        #expect(String(decoding: metrics.exposition(), as: UTF8.self).contains("mtauditor_parse_errors_total 2"))
    }

    @Test func aFailingBlockerIsRetriedAndDetectionGoesOn() async throws {
        defer { cleanUp() }
        let blocker = RecordingBlocker()
        blocker.failNext(2)
        let metrics = AuditorMetrics()
        let pipeline = try pipeline(configuration(), blocker: blocker, metrics: metrics)
        try append(failures("203.0.113.7", count: 5))
        await pipeline.step()
        #expect(blocker.values.isEmpty)
        try append(failures("198.51.100.9", count: 5))
        await pipeline.step()
        #expect(pipeline.counts.decisions == 2)
        #expect(blocker.calls == 1)
        for _ in 0..<2 {
            clock.advance(Enforcement.longestRetryPause)
            await pipeline.step()
        }
        #expect(blocker.values == ["203.0.113.7", "198.51.100.9"])
        #expect(String(decoding: metrics.exposition(), as: UTF8.self).contains(#"mtauditor_blocker_failures_total{blocker="recording"} 2"#))
    }

    @Test func restartResumesAndCountsEveryEventOnce() async throws {
        defer { cleanUp() }
        let positions = MemoryTailPositionStore()
        try append((0..<30).map { Self.line("192.0.2.\($0 % 3)", at: clock.now(), action: "connection.accepted", session: $0) }.joined())
        let first = try pipeline(configuration(), blocker: RecordingBlocker(), positions: positions)
        await first.step()
        // An event still being written when the daemon stops: half a line.
        let next = Self.line("192.0.2.9", at: clock.now(), action: "connection.accepted", session: 30)
        try append(String(next.prefix(25)))
        await first.step()
        await first.finish()
        #expect(first.counts.events == 30)

        try append(String(next.dropFirst(25)) + (31..<50).map { Self.line("192.0.2.1", at: clock.now(), action: "connection.accepted", session: $0) }.joined())
        let second = try pipeline(configuration(), blocker: RecordingBlocker(), positions: positions)
        await second.step()
        #expect(second.counts.events == 20)
        #expect(first.counts.events + second.counts.events == 50)
    }

    @Test func rotationDuringTheRunLosesNothing() async throws {
        defer { cleanUp() }
        let pipeline = try pipeline(configuration(), blocker: RecordingBlocker())
        var written = 0
        func write(_ count: Int) throws {
            try append((0..<count).map { Self.line("192.0.2.1", at: clock.now(), action: "connection.accepted", session: written + $0) }.joined())
            written += count
        }
        try write(10)
        await pipeline.step()
        // Rename and create, with lines written to the old file after the rename.
        try write(5)
        try FileManager.default.moveItem(atPath: events, toPath: events + ".1")
        try append(Self.line("192.0.2.1", at: clock.now(), action: "connection.accepted"), to: events + ".1")
        written += 1
        _ = FileManager.default.createFile(atPath: events, contents: nil)
        try write(7)
        await pipeline.step()
        await pipeline.step()
        #expect(pipeline.counts.events == written)
        // Copy and truncate.
        try write(4)
        await pipeline.step()
        try FileManager.default.copyItem(atPath: events, toPath: events + ".2")
        try FileHandle(forWritingTo: URL(fileURLWithPath: events)).truncate(atOffset: 0)
        try write(3)
        await pipeline.step()
        #expect(pipeline.counts.events == written)
        #expect(pipeline.counts.malformed == 0)
    }

    @Test func aBadRuleAtReloadKeepsThePreviousRules() async throws {
        defer { cleanUp() }
        let blocker = RecordingBlocker()
        let metrics = AuditorMetrics()
        let pipeline = try pipeline(configuration(), blocker: blocker, metrics: metrics)
        try "name: broken\nkind: threshold\nwindow: 1m\ncount: many\n".write(toFile: rules + "/broken.yaml", atomically: true, encoding: .utf8)
        #expect(pipeline.reloadRules() == false)
        #expect(pipeline.engine.rules.map(\.name) == ["failures"])
        try append(failures("203.0.113.7", count: 5))
        await pipeline.step()
        #expect(blocker.values == ["203.0.113.7"])
        #expect(String(decoding: metrics.exposition(), as: UTF8.self).contains("mtauditor_rule_reload_failures_total 1"))

        try FileManager.default.removeItem(atPath: rules + "/broken.yaml")
        try Self.failureRule.replacingOccurrences(of: "count: 5", with: "count: 2")
            .write(toFile: rules + "/failures.yaml", atomically: true, encoding: .utf8)
        #expect(pipeline.reloadRules())
        try append(failures("198.51.100.9", count: 2))
        await pipeline.step()
        #expect(blocker.values == ["203.0.113.7", "198.51.100.9"])
    }

    @Test func serviceReloadsOnTriggerAndDrainsOnShutdown() async throws {
        defer { cleanUp() }
        let blocker = RecordingBlocker()
        let positions = SharedPositionStore()
        var settings = configuration()
        settings.pollIntervalMilliseconds = 5
        let pipeline = AuditorPipeline(configuration: settings, rules: try RuleDirectory.load(path: rules),
                                       sources: [EventTail(path: events, store: positions)], targets: [blocker.target],
                                       metrics: AuditorMetrics(), logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), now: Event.nowMilliseconds)
        let (triggers, reload) = AsyncStream<Void>.makeStream()
        let service = AuditorService(pipeline: pipeline, reloadTriggers: triggers, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        let now = Event.nowMilliseconds()
        try await testGracefulShutdown { shutdown in
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await service.run() }
                try append((0..<5).map { Self.line("203.0.113.7", at: now, session: $0) }.joined())
                try await eventually { blocker.values == ["203.0.113.7"] }
                // A rule that bans on the first failure, put in by a reload.
                try Self.failureRule.replacingOccurrences(of: "count: 5", with: "count: 1")
                    .write(toFile: rules + "/failures.yaml", atomically: true, encoding: .utf8)
                reload.yield()
                try await eventually {
                    try? append(Self.line("198.51.100.\(Int.random(in: 1...200))", at: now))
                    return blocker.values.count > 1
                }
                shutdown.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
        let size = try #require(try FileManager.default.attributesOfItem(atPath: events)[.size] as? Int)
        #expect(positions.position(of: events)?.offset == Int64(size))
    }
}

/// Positions shared between the test and the service's task.
final class SharedPositionStore: TailPositionStore, Sendable {
    private let positions = Mutex<[String: TailPosition]>([:])
    func position(of path: String) -> TailPosition? { positions.withLock { $0[path] } }
    func save(_ position: TailPosition) { positions.withLock { $0[position.path] = position } }
}

/// Polls `condition` until it holds, for at most `seconds`.
func eventually(seconds: Double = 20, _ condition: () throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if try condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw TestFailure("condition not met within \(seconds)s")
}
