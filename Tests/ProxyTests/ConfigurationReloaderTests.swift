import ConfigFile
#if canImport(Glibc)
import Glibc
#endif
import EventLog
import Foundation
import Logging
import Synchronization
import Testing
@testable import Proxy

@Suite struct ConfigurationReloaderTests {
    static let good = """
    instance: one
    secrets:
      - name: a
        secret: dd00112233445566778899aabbccddeeff
    """

    final class Applied: Sendable {
        let configurations = Mutex<[ProxyConfiguration]>([])
        let reopens = Mutex(0)
    }

    static func reloader(path: String, triggers: AsyncStream<Void>, events: BlocklistEventRecorder, applied: Applied) throws
        -> ConfigurationReloader<AsyncStream<Void>> {
        ConfigurationReloader(
            path: path, configuration: try ProxyConfiguration.load(path: path), triggers: triggers, events: events,
            logger: Logger(label: "test"), now: { 42 },
            beforeReload: { applied.reopens.withLock { $0 += 1 } },
            apply: { configuration in applied.configurations.withLock { $0.append(configuration) } })
    }

    static func file(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("reload-\(UUID()).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func goodFileIsAppliedAndAnnounced() async throws {
        let path = try Self.file(Self.good)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let events = BlocklistEventRecorder()
        let applied = Applied()
        let reloader = try Self.reloader(path: path, triggers: AsyncStream { $0.finish() }, events: events, applied: applied)
        try (Self.good.replacingOccurrences(of: "instance: one", with: "instance: two")
            + "\n  - name: b\n    secret: 00112233445566778899aabbccddee00\n").write(toFile: path, atomically: true, encoding: .utf8)
        let outcome = await reloader.reload()
        guard case .reloaded(let configuration, let restartRequired) = outcome else {
            Issue.record("expected a reload, got \(outcome)")
            return
        }
        #expect(configuration.instance == "two")
        #expect(configuration.secrets.map(\.name) == ["a", "b"])
        #expect(restartRequired.isEmpty)
        #expect(applied.configurations.withLock { $0 }.map(\.instance) == ["two"])
        #expect(applied.reopens.withLock { $0 } == 1)
        let event = try #require(events.all.last)
        #expect(event.action == .configReloaded)
        #expect(event.labels["secrets"] == "2")
        #expect(reloader.configuration.instance == "two")
    }

    @Test func badFileKeepsTheRunningConfigurationAndSaysWhere() async throws {
        let path = try Self.file(Self.good)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let events = BlocklistEventRecorder()
        let applied = Applied()
        let reloader = try Self.reloader(path: path, triggers: AsyncStream { $0.finish() }, events: events, applied: applied)
        try (Self.good + "\nlimits:\n  idle_timeout: forever\n").write(toFile: path, atomically: true, encoding: .utf8)
        let outcome = await reloader.reload()
        #expect(outcome == .rejected(ConfigError(file: path, line: 6, key: "limits.idle_timeout",
                                                 message: "expected a duration such as 500ms, 30s, 5m, 2h or 7d, found \"forever\"")))
        #expect(applied.configurations.withLock { $0 }.isEmpty)
        #expect(applied.reopens.withLock { $0 } == 1)
        #expect(reloader.configuration.instance == "one")
        let event = try #require(events.all.last)
        #expect(event.action == .configRejected)
        #expect(event.outcome == .failure)
        #expect(event.labels == ["file": path, "line": "6", "key": "limits.idle_timeout",
                                 "problem": "expected a duration such as 500ms, 30s, 5m, 2h or 7d, found \"forever\""])
    }

    @Test func restartOnlyKeysAreNamedAndKept() async throws {
        let path = try Self.file(Self.good)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let events = BlocklistEventRecorder()
        let applied = Applied()
        let reloader = try Self.reloader(path: path, triggers: AsyncStream { $0.finish() }, events: events, applied: applied)
        try (Self.good + "\nlisten: [\"127.0.0.1:9999\"]\nevents:\n  privacy: full\n").write(toFile: path, atomically: true, encoding: .utf8)
        let outcome = await reloader.reload()
        guard case .reloaded(let configuration, let restartRequired) = outcome else {
            Issue.record("expected a reload, got \(outcome)")
            return
        }
        #expect(restartRequired == ["listen", "events.privacy"])
        #expect(configuration.listen == ProxyConfiguration().listen)
        #expect(configuration.events.privacy == .minimized)
        #expect(events.all.last?.labels["restart_required"] == "listen,events.privacy")
    }

    @Test func eachTriggerReloadsOnce() async throws {
        let path = try Self.file(Self.good)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let events = BlocklistEventRecorder()
        let applied = Applied()
        let (triggers, continuation) = AsyncStream<Void>.makeStream()
        let reloader = try Self.reloader(path: path, triggers: triggers, events: events, applied: applied)
        continuation.yield()
        continuation.yield()
        continuation.finish()
        try await reloader.run()
        #expect(applied.configurations.withLock { $0 }.count == 2)
        #expect(events.all.map(\.action) == [.configReloaded, .configReloaded])
    }
}

@Suite struct PrivilegeDropTests {
    @Test func rootWithoutUserIsRefusedUnlessAllowed() {
        #expect(throws: PrivilegeDrop.Failure.rootWithoutUser) {
            try PrivilegeDrop.checkPolicy(user: nil, allowRoot: false, isRoot: true)
        }
        #expect(throws: Never.self) { try PrivilegeDrop.checkPolicy(user: nil, allowRoot: true, isRoot: true) }
        #expect(throws: Never.self) { try PrivilegeDrop.checkPolicy(user: "nobody", allowRoot: false, isRoot: true) }
        #expect(throws: Never.self) { try PrivilegeDrop.checkPolicy(user: nil, allowRoot: false, isRoot: false) }
    }

    @Test func unknownAndRootUsersAreRefused() {
        #expect(throws: PrivilegeDrop.Failure.unknownUser("no-such-user-mtshield")) {
            try PrivilegeDrop.drop(to: "no-such-user-mtshield")
        }
        #expect(throws: PrivilegeDrop.Failure.userIsRoot("root")) { try PrivilegeDrop.drop(to: "root") }
    }

    @Test func everyThreadsCredentialsAreChecked() {
        #expect(PrivilegeDrop.threadWithOtherCredentials(uid: getuid(), gid: getgid()) == nil)
        #expect(PrivilegeDrop.threadWithOtherCredentials(uid: getuid() &+ 1, gid: getgid()) != nil)
    }

    @Test func refusalSaysWhatToDo() {
        #expect(PrivilegeDrop.Failure.rootWithoutUser.description.contains("--allow-root"))
        #expect(PrivilegeDrop.Failure.rootWithoutUser.description.contains("user:"))
    }
}
