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
    final class RecordingBlocker: Blocker {
        private struct State {
            var held: Set<String> = []
            var failuresLeft = 0
            var calls = 0
        }
        let name = "recording"
        private let state = Mutex(State())

        func failNext(_ count: Int) { state.withLock { $0.failuresLeft = count } }
        var values: Set<String> { state.withLock { $0.held } }
        var calls: Int { state.withLock { $0.calls } }

        func synchronize(active: [Decision], now: Int64) async throws(AuditorError) {
            try change { $0.held = Set(active.map(\.value)) }
        }

        func apply(added: [Decision], removed: [Decision], now: Int64) async throws(AuditorError) {
            try change { state in
                for decision in removed { state.held.remove(decision.value) }
                for decision in added { state.held.insert(decision.value) }
            }
        }

        private func change(_ body: (inout State) -> Void) throws(AuditorError) {
            let refused = state.withLock { state -> Bool in
                state.calls += 1
                if state.failuresLeft > 0 {
                    state.failuresLeft -= 1
                    return true
                }
                body(&state)
                return false
            }
            if refused { throw AuditorError.blocker(name: name, message: "refused") }
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
                  positions: any TailPositionStore = MemoryTailPositionStore(), ledger: (any DecisionLedger)? = nil,
                  metrics: AuditorMetrics = AuditorMetrics()) async throws -> AuditorPipeline {
        let clock = self.clock
        let pipeline = AuditorPipeline(configuration: configuration, rules: try RuleDirectory.load(path: rules),
                                       sources: [EventTail(path: events, store: positions)], blockers: [blocker], ledger: ledger,
                                       metrics: metrics, logger: quiet, now: { clock.now() })
        try await pipeline.start()
        return pipeline
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
        let pipeline = try await pipeline(configuration(), blocker: blocker, metrics: metrics)
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

    @Test func everyAlertWritesItsReport() async throws {
        defer { cleanUp() }
        var settings = configuration()
        settings.reports = directory + "/reports"
        let pipeline = try await pipeline(settings, blocker: RecordingBlocker())
        try append(failures("203.0.113.7", count: 5) + failures("198.51.100.1", count: 5))
        await pipeline.step()
        let files = try TestFiles.contents(of: directory + "/reports")
        #expect(files.filter { $0.hasSuffix(".json") }.count == 2)
        #expect(files.filter { $0.hasSuffix(".md") }.count == 2)
        let html = try #require(files.first { $0.hasSuffix(".html") })
        let page = try String(contentsOfFile: directory + "/reports/" + html, encoding: .utf8)
        #expect(page.contains("<svg") && page.contains("failures"))
        #expect(pipeline.counts.reports == 2)
    }

    @Test func allowlistedAndSimulatedDecisionsReachNoBlocker() async throws {
        defer { cleanUp() }
        let allowed = RecordingBlocker()
        let allowlisted = try await pipeline(configuration(allowlist: ["203.0.113.0/24"]), blocker: allowed)
        try append(failures("203.0.113.7", count: 6))
        await allowlisted.step()
        #expect(allowlisted.counts.alerts == 1 && allowlisted.counts.decisions == 0)
        #expect(allowed.calls == 1 && allowed.values.isEmpty)  // the start's synchronization only

        let simulated = RecordingBlocker()
        let simulation = try await pipeline(configuration(simulation: true), blocker: simulated)
        await simulation.step()
        #expect(simulation.counts.decisions == 1)
        #expect(simulated.calls == 1 && simulated.values.isEmpty && simulation.inForce.isEmpty)
    }

    @Test func malformedLinesAreCountedAndSkipped() async throws {
        defer { cleanUp() }
        let blocker = RecordingBlocker()
        let metrics = AuditorMetrics()
        let pipeline = try await pipeline(configuration(), blocker: blocker, metrics: metrics)
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
        let metrics = AuditorMetrics()
        let pipeline = try await pipeline(configuration(), blocker: blocker, metrics: metrics)
        blocker.failNext(2)
        try append(failures("203.0.113.7", count: 5))
        await pipeline.step()
        #expect(blocker.values.isEmpty)
        try append(failures("198.51.100.9", count: 5))
        await pipeline.step()
        #expect(pipeline.counts.decisions == 2)
        #expect(blocker.calls == 2)
        // Retries back off: 1 s, then 2 s.
        for failures in 1...2 {
            clock.advance(BlockerSet.firstRetryDelay << Int64(failures - 1))
            await pipeline.step()
        }
        #expect(blocker.values == ["203.0.113.7", "198.51.100.9"])
        #expect(String(decoding: metrics.exposition(), as: UTF8.self).contains(#"mtauditor_blocker_failures_total{blocker="recording"} 2"#))
    }

    @Test func restartResumesAndCountsEveryEventOnce() async throws {
        defer { cleanUp() }
        let positions = MemoryTailPositionStore()
        try append((0..<30).map { Self.line("192.0.2.\($0 % 3)", at: clock.now(), action: "connection.accepted", session: $0) }.joined())
        let first = try await pipeline(configuration(), blocker: RecordingBlocker(), positions: positions)
        await first.step()
        // An event still being written when the daemon stops: half a line.
        let next = Self.line("192.0.2.9", at: clock.now(), action: "connection.accepted", session: 30)
        try append(String(next.prefix(25)))
        await first.step()
        await first.finish()
        #expect(first.counts.events == 30)

        try append(String(next.dropFirst(25)) + (31..<50).map { Self.line("192.0.2.1", at: clock.now(), action: "connection.accepted", session: $0) }.joined())
        let second = try await pipeline(configuration(), blocker: RecordingBlocker(), positions: positions)
        await second.step()
        #expect(second.counts.events == 20)
        #expect(first.counts.events + second.counts.events == 50)
    }

    @Test func rotationDuringTheRunLosesNothing() async throws {
        defer { cleanUp() }
        let pipeline = try await pipeline(configuration(), blocker: RecordingBlocker())
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
        let pipeline = try await pipeline(configuration(), blocker: blocker, metrics: metrics)
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

    func blocklist(_ path: String) -> Set<String> {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return Set(text.split(separator: "\n").map(String.init).filter { !$0.hasPrefix("#") })
    }

    @Test func stateStoreCarriesBansAndPositionsAcrossARestartAndFollowsTheOperator() async throws {
        defer { cleanUp() }
        let state = directory + "/auditor.sqlite"
        let path = directory + "/blocklist.txt"
        let clock = self.clock
        func pipeline(_ store: DecisionStore) async throws -> AuditorPipeline {
            let pipeline = AuditorPipeline(configuration: configuration(), rules: try RuleDirectory.load(path: rules),
                                           sources: [EventTail(path: events, store: store)],
                                           blockers: [ProxyBlocklistBlocker(path: path)], ledger: store,
                                           metrics: AuditorMetrics(), logger: quiet, now: { clock.now() })
            try await pipeline.start()
            return pipeline
        }
        let first = try await DecisionStore.open(path: state, logger: quiet)
        let before = try await pipeline(first)
        try append(failures("203.0.113.7", count: 5))
        await before.step()
        await before.finish()
        #expect(blocklist(path) == ["203.0.113.7"])
        await first.close()

        // A fresh blocklist file, as after a reboot: the restart puts the ban back.
        try FileManager.default.removeItem(atPath: path)
        let second = try await DecisionStore.open(path: state, logger: quiet)
        let after = try await pipeline(second)
        #expect(blocklist(path) == ["203.0.113.7"])
        await after.step()
        #expect(after.counts.events == 0)
        // Escalation survives the restart: the second ban of the value is twice as long.
        clock.advance(10 * 60_000)
        await after.step()
        #expect(blocklist(path).isEmpty)
        try append(failures("203.0.113.7", count: 5, from: 5))
        await after.step()
        let repeated = try #require(after.inForce["203.0.113.7"])
        #expect(repeated.repeatCount == 2 && repeated.until - repeated.created == 20 * 60_000)

        // What `mtauditor decisions add|delete` does to the store reaches the blockers.
        _ = try await second.banManually("198.51.100.0/24", durationMilliseconds: 3_600_000, reason: "operator",
                                         allowlist: [], at: clock.now())
        clock.advance(20)
        await after.step()
        #expect(blocklist(path) == ["203.0.113.7", "198.51.100.0/24"])
        _ = try await second.lift("203.0.113.7", at: clock.now())
        clock.advance(20)
        await after.step()
        #expect(blocklist(path) == ["198.51.100.0/24"])
        await after.finish()
        await second.close()
    }

    @Test func serviceReloadsOnTriggerAndDrainsOnShutdown() async throws {
        defer { cleanUp() }
        let blocker = RecordingBlocker()
        let positions = SharedPositionStore()
        let metrics = AuditorMetrics()
        var settings = configuration()
        settings.pollIntervalMilliseconds = 5
        let pipeline = AuditorPipeline(configuration: settings, rules: try RuleDirectory.load(path: rules),
                                       sources: [EventTail(path: events, store: positions)], blockers: [blocker],
                                       metrics: metrics, logger: quiet, now: Event.nowMilliseconds)
        try await pipeline.start()
        let (triggers, reload) = AsyncStream<Void>.makeStream()
        let service = AuditorService(pipeline: pipeline, reloadTriggers: triggers, logger: quiet)
        let now = Event.nowMilliseconds()
        let thread = DedicatedThreadExecutor(name: "test.auditor")
        defer { thread.shutdown() }
        try await testGracefulShutdown { shutdown in
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask(executorPreference: thread) { try await service.run() }
                try append((0..<5).map { Self.line("203.0.113.7", at: now, session: $0) }.joined())
                try await eventually { blocker.values == ["203.0.113.7"] }
                // A rule that bans on the first failure, put in by a reload. The reload is
                // taken at the start of a round: once the counter shows it, one failure bans.
                try Self.failureRule.replacingOccurrences(of: "count: 5", with: "count: 1")
                    .write(toFile: rules + "/failures.yaml", atomically: true, encoding: .utf8)
                reload.yield()
                try await eventually {
                    String(decoding: metrics.exposition(), as: UTF8.self).contains("\nmtauditor_rule_reloads_total 1\n")
                }
                try append(Self.line("198.51.100.7", at: now))
                try await eventually { blocker.values == ["203.0.113.7", "198.51.100.7"] }
                // Nothing is written after the last line, which was read (it was banned): the
                // drain must leave the position at the end of the file, whether the round that
                // read it or the shutdown saved it.
                shutdown.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
        let size = try #require(try FileManager.default.attributesOfItem(atPath: events)[.size] as? Int)
        #expect(positions.position(of: events)?.offset == Int64(size))
    }
}

let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

/// Positions shared between the test and the service's task.
final class SharedPositionStore: TailPositionStore, Sendable {
    private let positions = Mutex<[String: TailPosition]>([:])
    func position(of path: String) -> TailPosition? { positions.withLock { $0[path] } }
    func save(_ position: TailPosition) { positions.withLock { $0[position.path] = position } }
}

/// Polls `condition` until it holds, for at most `seconds`. The polls run on the cooperative
/// pool, which the full suite on two cores may keep busy past the deadline: the condition
/// is looked at once more then, so only a condition that still fails counts.
func eventually(seconds: Double = 120, _ condition: () throws -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(seconds)
    while ContinuousClock.now < deadline {
        if try condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    if try condition() { return }
    throw TestFailure("condition not met within \(seconds)s")
}
