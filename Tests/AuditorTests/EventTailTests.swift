import Auditor
import EventLog
import Foundation
import Testing

@Suite struct EventTailTests {
    let directory: String

    init() throws {
        directory = NSTemporaryDirectory() + "tail-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func line(_ n: Int) -> String {
        #"{"@timestamp":"2026-05-01T00:00:00.000Z","event.action":"connection.accepted","session.id":"\#(n)"}"# + "\n"
    }

    func append(_ text: String, to path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
        try handle.close()
    }

    func sessions(_ items: [EventFileReader.Item]) -> [String] {
        items.map { item in
            switch item {
            case .event(let event, _): event.sessionID ?? "?"
            case .malformed(let error): "malformed:\(error.line)"
            }
        }
    }

    @Test func handsOutOnlyCompleteLines() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/events.jsonl"
        let half = line(2)
        try (line(1) + String(half.prefix(20))).write(toFile: path, atomically: false, encoding: .utf8)
        let tail = EventTail(path: path)
        #expect(sessions(tail.poll()) == ["1"])
        #expect(tail.poll().isEmpty)
        try append(String(half.dropFirst(20)) + "not json\n", to: path)
        #expect(sessions(tail.poll()) == ["2", "malformed:3"])
    }

    @Test func followsRenameAndCreate() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/events.jsonl"
        try line(1).write(toFile: path, atomically: false, encoding: .utf8)
        let tail = EventTail(path: path)
        #expect(sessions(tail.poll()) == ["1"])
        try append(line(2), to: path)
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        try (line(3) + line(4)).write(toFile: path, atomically: false, encoding: .utf8)
        #expect(sessions(tail.poll()) == ["2", "3", "4"])
        try append(line(5), to: path)
        #expect(sessions(tail.poll()) == ["5"])
    }

    @Test func followsCopyTruncate() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/events.jsonl"
        try (line(1) + line(2)).write(toFile: path, atomically: false, encoding: .utf8)
        let tail = EventTail(path: path)
        #expect(sessions(tail.poll()) == ["1", "2"])
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.truncate(atOffset: 0)
        try handle.close()
        try append(line(3), to: path)
        #expect(sessions(tail.poll()) == ["3"])
    }

    @Test func aRestartResumesAtTheCommittedPosition() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/events.jsonl"
        let store = MemoryTailPositionStore()
        try (line(1) + line(2)).write(toFile: path, atomically: false, encoding: .utf8)
        do {
            let tail = EventTail(path: path, store: store)
            #expect(sessions(tail.poll()) == ["1", "2"])
            tail.commit()
            try append(line(3), to: path)
            #expect(sessions(tail.poll()) == ["3"])
            // stopped before event 3 was processed and committed
        }
        try append(line(4), to: path)
        let restarted = EventTail(path: path, store: store)
        let items = restarted.poll()
        #expect(sessions(items) == ["3", "4"], "nothing lost, nothing counted twice")
        if case .event(_, let number)? = items.first { #expect(number == 3) }
    }

    @Test func aSavedPositionForAnotherFileStartsTheNewOneFromTheBeginning() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/events.jsonl"
        let store = MemoryTailPositionStore()
        try (line(1) + line(2)).write(toFile: path, atomically: false, encoding: .utf8)
        let tail = EventTail(path: path, store: store)
        _ = tail.poll()
        tail.commit()
        try FileManager.default.removeItem(atPath: path)
        try (line(5) + line(6) + line(7)).write(toFile: path, atomically: false, encoding: .utf8)
        #expect(sessions(EventTail(path: path, store: store).poll()) == ["5", "6", "7"])
    }

    @Test func aMissingFileIsWaitedFor() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/later.jsonl"
        let tail = EventTail(path: path)
        #expect(tail.poll().isEmpty)
        try line(1).write(toFile: path, atomically: false, encoding: .utf8)
        #expect(sessions(tail.poll()) == ["1"])
    }
}
