import EventLog
import Foundation
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite struct EventWriterTests {
    static let logger = Logger(label: "test.event-writer")
    static let fixedClock: @Sendable () -> Int64 = { 1_700_006_400_000 }

    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mtshield-events-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Runs a call that waits (flush, shutdown, a pipe) on a thread of its own, so that it
    /// never holds a thread of the cooperative pool the other tests share.
    static func blocking<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: body()) }.start()
        }
    }

    static func event(_ sequence: Int, message: String? = nil) -> Event {
        Event(timestampMilliseconds: 1_700_006_400_000 + Int64(sequence), action: .connectionAccepted,
              sourceIP: "127.0.0.1", sessionID: String(sequence), message: message)
    }

    static func lines(at path: String) throws -> [[String: Any]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try data.split(separator: UInt8(ascii: "\n")).map {
            try #require(try JSONSerialization.jsonObject(with: Data($0)) as? [String: Any])
        }
    }

    static func sessionIDs(_ lines: [[String: Any]]) -> [Int] {
        lines.compactMap { ($0["session.id"] as? String).flatMap { Int($0) } }
    }

    @Test func writesEveryEventInOrderWithPrivacyApplied() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("events.jsonl").path
        let writer = try EventWriter(destination: .file(path), privacy: PrivacyPolicy(mode: .minimized),
                                     queueCapacity: 1 << 20, instance: "test", logger: Self.logger)
        let count = 20_000
        let started = ContinuousClock.now
        for sequence in 0..<count { writer.emit(Self.event(sequence)) }
        #expect(await Self.blocking { writer.flush(timeout: .seconds(60)) })
        let elapsed = ContinuousClock.now - started
        print("EventWriter: \(count) events emitted, hashed, encoded and written in \(elapsed)")
        #expect(await Self.blocking { writer.shutdown(timeout: .seconds(60)) })

        let lines = try Self.lines(at: path)
        #expect(lines.count == count)
        #expect(Self.sessionIDs(lines) == Array(0..<count))
        #expect(lines.allSatisfy { $0["source.ip"] == nil && $0["source.ip_hash"] != nil })
        #expect(writer.droppedCount == 0)

        var status = stat()
        #expect(stat(path, &status) == 0)
        #expect(status.st_mode & 0o777 == 0o640)
    }

    @Test func concurrentProducersLoseNothingAndKeepTheirOwnOrder() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("events.jsonl").path
        let writer = try EventWriter(destination: .file(path), privacy: PrivacyPolicy(mode: .full),
                                     queueCapacity: 1 << 20, logger: Self.logger)
        let producers = 4, perProducer = 5000
        await withTaskGroup(of: Void.self) { group in
            for producer in 0..<producers {
                group.addTask {
                    for index in 0..<perProducer { writer.emit(Self.event(producer * 1_000_000 + index)) }
                }
            }
        }
        #expect(await Self.blocking { writer.shutdown(timeout: .seconds(60)) })
        let ids = Self.sessionIDs(try Self.lines(at: path))
        #expect(ids.count == producers * perProducer)
        for producer in 0..<producers {
            #expect(ids.filter { $0 / 1_000_000 == producer } == (0..<perProducer).map { producer * 1_000_000 + $0 })
        }
    }

    @Test func aBatchIsWrittenWithinTheBatchIntervalWithoutAFlush() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("events.jsonl").path
        let writer = try EventWriter(destination: .file(path), privacy: PrivacyPolicy(mode: .full),
                                     queueCapacity: 1000, logger: Self.logger, batchInterval: .milliseconds(50))
        for sequence in 0..<5 { writer.emit(Self.event(sequence)) }
        var written: [Int] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while written.count < 5, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
            written = Self.sessionIDs((try? Self.lines(at: path)) ?? [])
        }
        #expect(written == Array(0..<5))
        #expect(await Self.blocking { writer.shutdown(timeout: .seconds(60)) })
    }

    @Test func flushShutdownAndAHalfFullQueueDoNotWaitForALongBatchInterval() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("events.jsonl").path
        let writer = try EventWriter(destination: .file(path), privacy: PrivacyPolicy(mode: .full),
                                     queueCapacity: 10, logger: Self.logger, batchInterval: .seconds(3600))
        writer.emit(Self.event(0))
        #expect(await Self.blocking { writer.flush(timeout: .seconds(60)) })
        #expect(Self.sessionIDs(try Self.lines(at: path)) == [0])
        // Half the capacity wakes the gathering writer: nothing is dropped for want of a write.
        for sequence in 1..<6 { writer.emit(Self.event(sequence)) }
        var written: [Int] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while written.count < 6, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
            written = Self.sessionIDs((try? Self.lines(at: path)) ?? [])
        }
        #expect(written == Array(0..<6))
        writer.emit(Self.event(6))
        #expect(await Self.blocking { writer.shutdown(timeout: .seconds(60)) })
        #expect(Self.sessionIDs(try Self.lines(at: path)) == Array(0..<7))
        #expect(writer.droppedCount == 0)
    }

    @Test func aStalledFileDropsAndCountsThenReportsTheDrops() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("stalled.fifo").path
        #expect(mkfifo(path, 0o600) == 0)
        let reader = open(path, O_RDONLY | O_NONBLOCK)
        try #require(reader >= 0)
        defer { close(reader) }

        let reported = Mutex<UInt64>(0)
        let capacity = 100
        let writer = try EventWriter(destination: .file(path), privacy: PrivacyPolicy(mode: .none),
                                     queueCapacity: capacity, instance: "test", logger: Self.logger,
                                     now: Self.fixedClock, onDrop: { count in reported.withLock { $0 += count } })
        // Nobody reads yet: the pipe (64 KiB) fills with a few 3 KiB lines and the writer blocks.
        let total = 1000
        let filler = String(repeating: "x", count: 3000)
        for sequence in 0..<total { writer.emit(Self.event(sequence, message: filler)) }
        let droppedWhileStalled = writer.droppedCount
        // At most: what the pipe holds, the batch in the writer's hands, a full queue.
        #expect(droppedWhileStalled >= UInt64(total - (64 * 1024 / 3000 + 1) - 2 * capacity))

        let shutdown = Thread { writer.shutdown(timeout: .seconds(30)) }
        shutdown.start()
        let received = await Self.blocking { () -> [UInt8] in
            var received: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65536)
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                let count = read(reader, &chunk, chunk.count)
                if count > 0 {
                    received += chunk[0..<count]
                } else if count == 0 {
                    break
                } else {
                    usleep(1000)
                }
            }
            return received
        }
        let lines = try received.split(separator: UInt8(ascii: "\n")).map {
            try #require(try JSONSerialization.jsonObject(with: Data($0)) as? [String: Any])
        }
        let delivered = lines.filter { $0["event.action"] as? String == "connection.accepted" }
        let dropReports = lines.filter { $0["event.action"] as? String == "events.dropped" }
        let reportedInLog = dropReports.compactMap { ($0["labels.dropped"] as? String).flatMap { UInt64($0) } }.reduce(0, +)
        #expect(UInt64(delivered.count) + writer.droppedCount == UInt64(total))
        #expect(writer.droppedCount == droppedWhileStalled)
        #expect(!dropReports.isEmpty)
        #expect(reportedInLog == writer.droppedCount)
        #expect(reported.withLock { $0 } == writer.droppedCount)
        #expect(dropReports.allSatisfy { $0["proxy.instance"] as? String == "test" })
        #expect(Self.sessionIDs(delivered) == Self.sessionIDs(delivered).sorted())
    }

    @Test func aReaderThatWentAwayCostsEventsNotTheProcess() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("gone.fifo").path
        #expect(mkfifo(path, 0o600) == 0)
        let reader = open(path, O_RDONLY | O_NONBLOCK)
        try #require(reader >= 0)
        let reported = Mutex<UInt64>(0)
        let writer = try EventWriter(destination: .file(path), privacy: PrivacyPolicy(mode: .full),
                                     queueCapacity: 100, logger: Self.logger,
                                     onDrop: { count in reported.withLock { $0 += count } })
        close(reader)
        for sequence in 0..<10 { writer.emit(Self.event(sequence)) }
        #expect(await Self.blocking { writer.flush(timeout: .seconds(60)) })
        #expect(await Self.blocking { writer.shutdown(timeout: .seconds(60)) })
        #expect(writer.droppedCount == 10)
        #expect(reported.withLock { $0 } == 10)
    }

    @Test func followsARenameByLogrotate() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("events.jsonl").path
        let rotated = path + ".1"
        let writer = try EventWriter(destination: .file(path), privacy: PrivacyPolicy(mode: .full),
                                     queueCapacity: 1000, logger: Self.logger, rotationCheckInterval: .milliseconds(20))
        for sequence in 0..<10 { writer.emit(Self.event(sequence)) }
        #expect(await Self.blocking { writer.flush(timeout: .seconds(60)) })
        #expect(rename(path, rotated) == 0)

        var sequence = 10
        let deadline = ContinuousClock.now + .seconds(10)
        while !FileManager.default.fileExists(atPath: path), ContinuousClock.now < deadline {
            writer.emit(Self.event(sequence))
            sequence += 1
            try await Task.sleep(for: .milliseconds(5))
        }
        writer.emit(Self.event(sequence))
        sequence += 1
        #expect(await Self.blocking { writer.shutdown(timeout: .seconds(60)) })

        let old = Self.sessionIDs(try Self.lines(at: rotated))
        let new = Self.sessionIDs(try Self.lines(at: path))
        #expect(!new.isEmpty)
        #expect(old + new == Array(0..<sequence))
        #expect(old.count >= 10)
    }

    @Test func followsARemovalAndAnExplicitReopen() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("events.jsonl").path
        // A check interval this long leaves only `reopen()` to notice.
        let writer = try EventWriter(destination: .file(path), privacy: PrivacyPolicy(mode: .full),
                                     queueCapacity: 1000, logger: Self.logger, rotationCheckInterval: .seconds(3600))
        writer.emit(Self.event(0))
        #expect(await Self.blocking { writer.flush(timeout: .seconds(60)) })
        #expect(unlink(path) == 0)
        writer.reopen()
        writer.emit(Self.event(1))
        #expect(await Self.blocking { writer.shutdown(timeout: .seconds(60)) })
        #expect(Self.sessionIDs(try Self.lines(at: path)) == [1])
    }

    @Test func afterShutdownEventsAreCountedNotWritten() async throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("events.jsonl").path
        let writer = try EventWriter(destination: .file(path), privacy: PrivacyPolicy(mode: .full),
                                     queueCapacity: 10, logger: Self.logger)
        writer.emit(Self.event(0))
        #expect(await Self.blocking { writer.shutdown(timeout: .seconds(60)) })
        #expect(await Self.blocking { writer.shutdown(timeout: .seconds(60)) })
        writer.emit(Self.event(1))
        #expect(await Self.blocking { writer.flush(timeout: .seconds(60)) })
        #expect(writer.droppedCount == 1)
        #expect(Self.sessionIDs(try Self.lines(at: path)) == [0])
    }

    @Test func anUnopenableLogIsAClearError() async throws {
        let path = "/nonexistent-mtshield-dir/events.jsonl"
        #expect {
            try EventWriter(destination: .file(path), privacy: PrivacyPolicy(mode: .full),
                            queueCapacity: 10, logger: Self.logger)
        } throws: { error in
            "\(error)".hasPrefix(path + ": cannot open the event log")
        }
    }

    @Test func dashMeansStandardOutput() {
        #expect(EventWriter.Destination(path: "-") == .standardOutput)
        #expect(EventWriter.Destination(path: "/var/log/x.jsonl") == .file("/var/log/x.jsonl"))
    }
}
