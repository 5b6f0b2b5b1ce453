@testable import Auditor
import EventLog
import Foundation
import Testing

/// A proxy appending events, logrotate rotating them and an auditor that polls, commits,
/// stops and starts again: every event written is counted once, in order.
final class RotationScene {
    let directory: String
    var path: String { directory + "/events.jsonl" }
    let store = MemoryTailPositionStore()
    private(set) var written = 0
    /// The file the proxy writes to: after a rename it keeps writing to the old file until it reopens.
    private var writer: FileHandle
    private(set) var tail: EventTail
    /// Events handed out and committed: processed.
    private(set) var counted: [Int] = []
    /// Events handed out since the last commit: lost to a restart, and read again after it.
    private var uncommitted: [Int] = []
    private(set) var lineNumbers: [Int: Int] = [:]

    init() throws {
        directory = NSTemporaryDirectory() + "tail-restart-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/events.jsonl"
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        writer = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        // The auditor starts before the proxy writes anything: from then on it knows the file.
        tail = EventTail(path: path, store: store)
        _ = tail.poll()
        tail.commit()
    }

    func remove() {
        try? writer.close()
        try? FileManager.default.removeItem(atPath: directory)
    }

    static func line(_ n: Int) -> String {
        #"{"@timestamp":"2026-05-01T00:00:00.000Z","event.action":"connection.accepted","session.id":"\#(n)"}"# + "\n"
    }

    func write(_ count: Int) throws {
        var text = ""
        for _ in 0..<count {
            written += 1
            text += Self.line(written)
        }
        try writer.seekToEnd()
        try writer.write(contentsOf: Data(text.utf8))
    }

    func reopen() throws {
        try writer.close()
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        writer = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    }

    /// How many numbered rotated files there are (NAME.1 … NAME.n).
    private var rotatedCount: Int {
        var count = 0
        while FileManager.default.fileExists(atPath: "\(path).\(count + 1)") { count += 1 }
        return count
    }

    /// Moves NAME.k to NAME.k+1, newest last.
    private func shiftRotated() throws {
        for number in stride(from: rotatedCount, to: 0, by: -1) {
            try FileManager.default.moveItem(atPath: "\(path).\(number)", toPath: "\(path).\(number + 1)")
        }
    }

    /// logrotate's numbered scheme: NAME.k → NAME.k+1, NAME → NAME.1, a new empty NAME.
    func rotate() throws {
        try shiftRotated()
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        _ = FileManager.default.createFile(atPath: path, contents: nil)
        try spreadModificationTimes()
    }

    /// logrotate's copytruncate: NAME is copied to NAME.1 (shifting the others), then emptied in place.
    func copyTruncate() throws {
        try shiftRotated()
        try FileManager.default.copyItem(atPath: path, toPath: path + ".1")
        try writer.truncate(atOffset: 0)
        try spreadModificationTimes()
    }

    /// Rotated files get distinct modification times, older as their number grows: coarse
    /// file system clocks could give files rotated in the same tick one time.
    private func spreadModificationTimes() throws {
        let base = Date(timeIntervalSinceNow: -100_000)
        for number in stride(from: rotatedCount, to: 0, by: -1) {
            try FileManager.default.setAttributes([.modificationDate: base.addingTimeInterval(Double(-number * 10))],
                                                  ofItemAtPath: "\(path).\(number)")
        }
    }

    /// Polls once; true when the tail read to the end of the file at the path (fewer items than the limit).
    @discardableResult
    func poll(limit: Int = 10_000) -> Bool {
        let items = tail.poll(limit: limit)
        for item in items {
            switch item {
            case .event(let event, let line):
                let session = Int(event.sessionID ?? "") ?? -1
                uncommitted.append(session)
                lineNumbers[session] = line
            case .malformed(let error):
                Issue.record("malformed line: \(error)")
            }
        }
        return items.count < limit
    }

    var uncommittedCount: Int { uncommitted.count }

    func commit() {
        tail.commit()
        counted += uncommitted
        uncommitted = []
    }

    /// The auditor stops (what it did not commit is lost) and starts again on the same state.
    func restart() {
        uncommitted = []
        tail = EventTail(path: path, store: store)
    }

    /// Reads everything there is and commits it.
    func drain() {
        for _ in 0..<100 {
            let before = uncommitted.count
            poll(limit: 7)
            if uncommitted.count == before { break }
        }
        commit()
    }
}

@Suite struct EventTailRestartTests {
    @Test func aRestartWithoutRotationCountsNothingTwice() throws {
        let scene = try RotationScene()
        defer { scene.remove() }
        try scene.write(5)
        scene.poll(limit: 3)
        scene.commit()
        scene.poll()
        scene.restart()
        scene.restart()
        try scene.write(2)
        scene.drain()
        scene.restart()
        scene.drain()
        #expect(scene.counted == Array(1...7))
        #expect(scene.lineNumbers[7] == 7)
    }

    @Test func linesWrittenToTheRenamedFileBeforeTheWriterReopensAreRead() throws {
        let scene = try RotationScene()
        defer { scene.remove() }
        try scene.write(1)
        scene.drain()
        try scene.rotate()
        // The new file is there but empty: the writer has not reopened, and appends to the old one.
        try scene.write(1)
        scene.drain()
        try scene.write(1)
        scene.drain()
        try scene.reopen()
        try scene.write(2)
        scene.drain()
        #expect(scene.counted == Array(1...5))
        scene.restart()
        try scene.write(1)
        scene.drain()
        #expect(scene.counted == Array(1...6))
    }

    @Test func aFileRotatedWhileDownIsReadOnFromTheSavedPosition() throws {
        let scene = try RotationScene()
        defer { scene.remove() }
        try scene.write(5)
        scene.poll(limit: 3)
        scene.commit()
        scene.restart()
        try scene.write(1)
        try scene.rotate()
        try scene.reopen()
        try scene.write(2)
        scene.drain()
        #expect(scene.counted == Array(1...8))
        #expect(scene.lineNumbers[4] == 4, "line numbers go on in the rotated file")
        #expect(scene.lineNumbers[7] == 1, "and start again in the new one")
        scene.restart()
        scene.drain()
        #expect(scene.counted == Array(1...8))
    }

    @Test func filesRotatedTwiceWhileDownAreReadOldestFirst() throws {
        let scene = try RotationScene()
        defer { scene.remove() }
        try scene.write(4)
        try scene.rotate()
        try scene.reopen()
        try scene.write(2)
        // An old rotated file (events 1–4, already read) and a compressed one: neither is read again.
        scene.drain()
        #expect(scene.counted == Array(1...6))
        try "not an event file\n".write(toFile: scene.path + ".9.gz", atomically: false, encoding: .utf8)
        try scene.write(3)
        scene.poll(limit: 1)
        scene.commit()
        scene.restart()
        try scene.write(1)
        try scene.rotate()
        try scene.reopen()
        try scene.write(2)
        try scene.rotate()
        try scene.reopen()
        try scene.write(2)
        try FileManager.default.moveItem(atPath: scene.path + ".9.gz", toPath: scene.path + ".4.gz")
        scene.drain()
        #expect(scene.counted == Array(1...14))
    }

    @Test func aDatedRotationWhileDownIsFound() throws {
        let scene = try RotationScene()
        defer { scene.remove() }
        let manager = FileManager.default
        try (RotationScene.line(900) + RotationScene.line(901)).write(toFile: scene.path + "-20261123", atomically: false, encoding: .utf8)
        try manager.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -200_000)], ofItemAtPath: scene.path + "-20261123")
        try scene.write(3)
        scene.poll(limit: 2)
        scene.commit()
        scene.restart()
        try manager.moveItem(atPath: scene.path, toPath: scene.path + "-20261124")
        try manager.setAttributes([.modificationDate: Date(timeIntervalSinceNow: -100_000)], ofItemAtPath: scene.path + "-20261124")
        try scene.reopen()
        try scene.write(2)
        scene.drain()
        #expect(scene.counted == Array(1...5))
    }

    @Test(arguments: [
        ("events.jsonl.1", true), ("events.jsonl.0", true), ("events.jsonl.12", true), ("events.jsonl-20261125", true),
        ("events.jsonl-2026-11-25", true), ("events.jsonl_20261125.1", true), ("events.1.jsonl", true),
        ("events-20261125.jsonl", true), ("events.jsonl.1.gz", false), ("events.jsonl-20261125.xz", false),
        ("events.jsonl", false), ("events.jsonl.bak", false), ("events.jsonl.swp", false), ("events.jsonl.", false),
        ("events.jsonl.1a", false), ("other.jsonl.1", false), ("events.jsonl1", false), ("events.json", false),
        ("events.bak.jsonl", false), ("eventsX1.jsonl", false),
    ])
    func rotationNames(name: String, isRotation: Bool) {
        #expect(RotatedFiles(beside: "/var/log/mtshield/events.jsonl").isRotationName(name) == isRotation)
    }

    @Test func aBackupCopyMadeWhileDownIsNotReadAsARotatedFile() throws {
        let scene = try RotationScene()
        defer { scene.remove() }
        try scene.write(3)
        scene.drain()
        scene.restart()
        try scene.write(1)
        try scene.rotate()
        try scene.reopen()
        try scene.write(1)
        try FileManager.default.copyItem(atPath: scene.path + ".1", toPath: scene.path + ".bak")
        try FileManager.default.copyItem(atPath: scene.path, toPath: scene.path + ".swp")
        scene.drain()
        #expect(scene.counted == Array(1...5))
    }

    @Test func aFileCopiedAndTruncatedWhileDownIsReadOnInTheCopy() throws {
        let scene = try RotationScene()
        defer { scene.remove() }
        try scene.write(4)
        scene.poll(limit: 2)
        scene.commit()
        scene.restart()
        try scene.write(1)
        try scene.copyTruncate()
        try scene.write(1)
        scene.drain()
        #expect(scene.counted == Array(1...6))
        scene.restart()
        try scene.write(1)
        scene.drain()
        #expect(scene.counted == Array(1...7))
    }

    @Test func aCopyIsFoundEvenWhenNothingOfTheFileWasReadBeforeTheStop() throws {
        let scene = try RotationScene()
        defer { scene.remove() }
        try scene.write(3)
        // Committed while idle: the position is the start of the file, which has a first line by now.
        scene.commit()
        scene.restart()
        try scene.copyTruncate()
        try scene.write(1)
        scene.drain()
        #expect(scene.counted == Array(1...4))
    }

    @Test func aFileTruncatedWhileDownWithoutACopyIsReadFromItsBeginning() throws {
        let scene = try RotationScene()
        defer { scene.remove() }
        try scene.write(4)
        scene.poll(limit: 2)
        scene.commit()
        scene.restart()
        try scene.copyTruncate()
        try FileManager.default.removeItem(atPath: scene.path + ".1")
        try scene.write(1)
        scene.drain()
        // Events 3 and 4 went with the copy: nothing can read them. Event 5 is not missed.
        #expect(scene.counted == [1, 2, 5])
    }

    @Test func aFileCopiedAndTruncatedWhileRunningIsReadOnInTheCopy() throws {
        let scene = try RotationScene()
        defer { scene.remove() }
        try scene.write(2)
        scene.drain()
        try scene.write(3)
        try scene.copyTruncate()
        try scene.write(1)
        scene.poll(limit: 2)
        scene.commit()
        scene.drain()
        #expect(scene.counted == Array(1...6))
    }

    /// Writes, rotations of both kinds, polls with small limits, commits and restarts in a
    /// seeded random order: whatever the order, every event is counted once.
    @Test(arguments: 1...16 as ClosedRange<UInt64>)
    func everyEventIsCountedOnceWhateverHappens(seed: UInt64) throws {
        let scene = try RotationScene()
        defer { scene.remove() }
        var random = SplitMix(seed: seed)
        // A copy is told by its first line: copytruncate loses what was written before the
        // tail saw the file's first line and saved it (logrotate warns that copytruncate can
        // lose lines). So the scenario copies and truncates only once the tail has read the
        // file at the path to its end and committed that.
        var pathFileHasLines = false
        var pathFileSeen = false
        var pathFileSeenAndCommitted = false
        var log: [String] = []
        for _ in 0..<300 {
            log.append("w\(scene.written) c\(scene.counted.count) u\(scene.uncommittedCount)")
            switch random.next() % 10 {
            case 0, 1, 2:
                try scene.write(Int(random.next() % 4) + 1)
                pathFileHasLines = true
                log.append("write")
            case 3, 4:
                if scene.poll(limit: Int(random.next() % 5) + 1), pathFileHasLines { pathFileSeen = true }
                log.append("poll")
            case 5:
                scene.commit()
                log.append("commit")
                pathFileSeenAndCommitted = pathFileSeen
            case 6:
                log.append("restart")
                scene.restart()
                pathFileSeen = pathFileSeenAndCommitted
            case 7:
                // Rename and create; the proxy may write a little more to the old file before it reopens.
                try scene.rotate()
                if random.next() % 2 == 0 { try scene.write(1) }
                try scene.reopen()
                log.append("rotate")
                (pathFileHasLines, pathFileSeen, pathFileSeenAndCommitted) = (false, false, false)
            case 8 where pathFileSeenAndCommitted:
                log.append("copytruncate")
                try scene.copyTruncate()
                (pathFileHasLines, pathFileSeen, pathFileSeenAndCommitted) = (false, false, false)
            default:
                log.append("pollall")
                if scene.poll(), pathFileHasLines { pathFileSeen = true }
                scene.commit()
                pathFileSeenAndCommitted = pathFileSeen
            }
        }
        scene.drain()
        scene.restart()
        scene.drain()
        #expect(scene.written > 100)
        #expect(scene.counted == Array(1...scene.written), "\(log.joined(separator: "; "))")
    }
}
