import Auditor
import EventLog
import Foundation
import Testing

/// A fresh directory under the system's temporary directory, removed by `remove()`.
struct ScratchDirectory {
    let path: String

    init(_ name: String) throws {
        path = NSTemporaryDirectory() + "\(name)-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

func decision(_ value: String, created: Int64 = 1_000_000, until: Int64 = 2_000_000, rule: String = "flood",
              repeatCount: Int = 1, origin: Decision.Origin = .rule, simulated: Bool = false) -> Decision {
    Decision(value: value, scope: Decision.Scope(value: value)!, rule: rule, reason: "12 events in 10s", created: created,
             until: until, repeatCount: repeatCount, origin: origin, simulated: simulated)
}

@Suite struct DecisionStoreTests {
    let scratch: ScratchDirectory
    var statePath: String { scratch.path + "/auditor.sqlite" }

    init() throws {
        scratch = try ScratchDirectory("state")
    }

    @Test func decisionsRoundTrip() async throws {
        defer { scratch.remove() }
        let store = try await DecisionStore.open(path: statePath)
        let written = [
            decision("203.0.113.7"),
            decision("2001:db8::/48", origin: .manual),
            decision("0123456789abcdef0123456789abcdef", simulated: true),
        ]
        try await store.record(written)
        #expect(try await store.active(at: 1_500_000) == written)
        #expect(try await store.decisions(since: 0).map(\.decision) == written)
        #expect(try await store.decisions(since: 0).allSatisfy { $0.ended == nil })
        #expect(try await store.banCount(of: "203.0.113.7") == 1)
        await store.close()
    }

    @Test func bansSurviveARestartAndEscalate() async throws {
        defer { scratch.remove() }
        let policy = BanPolicy(target: .sourceIP, durationMilliseconds: 60_000, factor: 2, maximumMilliseconds: 3_600_000)
        var first = try await DecisionStore.open(path: statePath)
        var book = try await first.book(allowlist: [], simulation: false, now: 0)
        guard case .decided(let ban) = book.ban("198.51.100.9", rule: "flood", reason: "r", policy: policy, at: 1_000) else {
            Issue.record("no ban")
            return
        }
        try await first.record([ban])
        await first.close()

        first = try await DecisionStore.open(path: statePath)
        book = try await first.book(allowlist: [], simulation: false, now: 2_000)
        #expect(book.active["198.51.100.9"] == ban)
        #expect(book.ban("198.51.100.9", rule: "flood", reason: "r", policy: policy, at: 2_000) == .alreadyBanned(ban))
        #expect(try await first.expire(now: 61_000) == [ban])
        await first.close()

        let second = try await DecisionStore.open(path: statePath)
        book = try await second.book(allowlist: [], simulation: false, now: 70_000)
        #expect(book.active.isEmpty)
        guard case .decided(let again) = book.ban("198.51.100.9", rule: "flood", reason: "r", policy: policy, at: 70_000) else {
            Issue.record("no second ban")
            await second.close()
            return
        }
        #expect(again.repeatCount == 2)
        #expect(again.until - again.created == 120_000)
        try await second.record([again])
        #expect(try await second.banCount(of: "198.51.100.9") == 2)
        await second.close()
    }

    @Test func expiryEndsEachDecisionOnceAndKeepsItForReports() async throws {
        defer { scratch.remove() }
        let store = try await DecisionStore.open(path: statePath)
        let short = decision("192.0.2.1", until: 1_100_000)
        let long = decision("192.0.2.2", until: 9_000_000)
        try await store.record([short, long])
        #expect(try await store.expire(now: 1_000_000).isEmpty)
        #expect(try await store.expire(now: 1_100_000) == [short])
        #expect(try await store.expire(now: 1_200_000).isEmpty)
        #expect(try await store.active(at: 1_200_000) == [long])
        let history = try await store.decisions(since: 0)
        #expect(history.map(\.decision) == [short, long])
        #expect(history.map(\.ended) == [1_100_000, nil])
        await store.close()
    }

    @Test func liftEndsADecisionButKeepsItsBanCount() async throws {
        defer { scratch.remove() }
        let store = try await DecisionStore.open(path: statePath)
        let ban = decision("192.0.2.3")
        try await store.record([ban])
        #expect(try await store.lift("192.0.2.3", at: 1_500_000) == [ban])
        #expect(try await store.lift("192.0.2.3", at: 1_500_000).isEmpty)
        #expect(try await store.active(at: 1_500_000).isEmpty)
        #expect(try await store.banCount(of: "192.0.2.3") == 1)
        #expect(try await store.expire(now: 3_000_000).isEmpty)
        await store.close()
    }

    @Test func aFileThatIsNotSQLiteIsRefusedClearly() async throws {
        defer { scratch.remove() }
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: statePath))
        let error = await #expect(throws: AuditorError.self) { try await DecisionStore.open(path: statePath) }
        #expect(error?.description.contains(statePath) == true)
        #expect(error?.description.contains("not an SQLite database") == true)
    }

    @Test func anotherProgramsDatabaseIsRefused() async throws {
        defer { scratch.remove() }
        let sqlite = Process()
        sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        sqlite.arguments = [statePath, "CREATE TABLE invoices (id INTEGER)"]
        try sqlite.run()
        sqlite.waitUntilExit()
        try #require(sqlite.terminationStatus == 0)
        let error = await #expect(throws: AuditorError.self) { try await DecisionStore.open(path: statePath) }
        #expect(error?.description.contains("not an auditor state store") == true)
    }

    @Test func aStoreFromANewerAuditorIsRefused() async throws {
        defer { scratch.remove() }
        let sqlite = Process()
        sqlite.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        sqlite.arguments = [statePath, "PRAGMA user_version = 99"]
        try sqlite.run()
        sqlite.waitUntilExit()
        let error = await #expect(throws: AuditorError.self) { try await DecisionStore.open(path: statePath) }
        #expect(error?.description.contains("newer mtauditor") == true)
    }

    @Test func theFileIsInWALMode() async throws {
        defer { scratch.remove() }
        let store = try await DecisionStore.open(path: statePath)
        try await store.record([decision("192.0.2.4")])
        #expect(FileManager.default.fileExists(atPath: statePath + "-wal"))
        await store.close()
    }

    @Test func tailPositionsSurviveARestartWithoutLossOrRepeat() async throws {
        defer { scratch.remove() }
        let events = scratch.path + "/events.jsonl"
        func line(_ n: Int) -> String {
            #"{"@timestamp":"2026-05-01T00:00:00.000Z","event.action":"connection.accepted","session.id":"\#(n)"}"# + "\n"
        }
        func sessions(_ items: [EventFileReader.Item]) -> [String] {
            items.compactMap { if case .event(let event, _) = $0 { event.sessionID } else { nil } }
        }
        try (1...3).map(line).joined().write(toFile: events, atomically: false, encoding: .utf8)
        var store = try await DecisionStore.open(path: statePath)
        var tail = EventTail(path: events, store: store)
        #expect(sessions(tail.poll()) == ["1", "2", "3"])
        tail.commit()
        await store.close()

        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: events))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(((4...5).map(line).joined()).utf8))
        try handle.close()

        store = try await DecisionStore.open(path: statePath)
        let saved = try #require(store.position(of: events))
        #expect(saved.lineNumber == 3)
        tail = EventTail(path: events, store: store)
        #expect(sessions(tail.poll()) == ["4", "5"])
        await store.close()
    }
}
