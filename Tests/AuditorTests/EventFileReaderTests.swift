@testable import Auditor
import EventLog
import Foundation
import Testing

/// A mapped file must read as read(2) reads it: the same events and errors with the same
/// line numbers, blank lines skipped, a last line without newline, a line over
/// `chunkBytes` cut there and the rest dropped, across window boundaries; and a file that
/// shrinks or grows while mapped must not crash the reader.
@Suite struct EventFileReaderTests {
    enum Read: Equatable {
        case event(Event, line: Int)
        case malformed(EventDecodingError)
    }

    let directory: String

    init() throws {
        directory = NSTemporaryDirectory() + "reader-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func file(_ bytes: [UInt8], name: String = "events.jsonl") throws -> String {
        let path = directory + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Windows as small as they may be (a line's longest part and two pages).
    static let smallWindows = EventFileReader.MappingPolicy(minimumBytes: 0, windowBytes: 0)

    static func readAll(_ reader: EventFileReader, limit: Int = .max) throws -> [Read] {
        var reads: [Read] = []
        var event = Event(timestampMilliseconds: 0, action: "")
        while reads.count < limit, let found = try reader.next(into: &event) {
            switch found {
            case .event(let line): reads.append(.event(event, line: line))
            case .malformed(let error): reads.append(.malformed(error))
            }
        }
        return reads
    }

    static func readAll(_ path: String, policy: EventFileReader.MappingPolicy) throws -> [Read] {
        let reader = try EventFileReader(path: path, policy: policy)
        reader.fields = .all
        return try readAll(reader)
    }

    /// Reads `bytes` as a file with read(2) and mapped in small and standard windows;
    /// returns what read(2) gave after checking the others gave the same.
    @discardableResult
    func readAlike(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws -> [Read] {
        let path = try file(bytes)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let read = try Self.readAll(path, policy: .never)
        for policy in [Self.smallWindows, .standard] {
            let mapped = try Self.readAll(path, policy: policy)
            #expect(mapped.count == read.count, sourceLocation: sourceLocation)
            if let index = zip(mapped, read).enumerated().first(where: { $0.element.0 != $0.element.1 })?.offset {
                Issue.record("item \(index): mapped \(mapped[index]), read \(read[index])", sourceLocation: sourceLocation)
            }
        }
        return read
    }

    static func line(_ number: Int, padding: Int = 0) -> String {
        #"{"@timestamp":"2026-05-01T00:00:00.000Z","event.action":"connection.accepted","session.id":"\#(number)""#
            + (padding > 0 ? #","message":""# + String(repeating: "m", count: padding) + "\"" : "") + "}"
    }

    static let chunk = EventFileReader.chunkBytes
    static let overLimit = "line of \(chunk) bytes is over the \(Event.maximumLineBytes)-byte limit"

    @Test func anEmptyFileHasNoLines() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try readAlike([]).isEmpty)
        #expect(try readAlike(Array("\n\n \r\n\t\n".utf8)).isEmpty)
    }

    @Test func blankLinesAreSkippedAndALastLineNeedsNoNewline() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let text = "\n" + Self.line(1) + "\r\n  \n\t\r\n" + Self.line(2) + "\n\n" + Self.line(3)
        let reads = try readAlike(Array(text.utf8))
        #expect(reads.map { if case .event(let event, let line) = $0 { "\(event.sessionID ?? "?")@\(line)" } else { "malformed" } }
                == ["1@2", "2@5", "3@7"])
    }

    @Test(arguments: [0, 1, 2])
    func aFileOfOneHugeLineIsOneMalformedLine(ending: Int) throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let huge = Array(repeating: UInt8(ascii: "x"), count: 3 * Self.chunk + 17) + [[], [0x0A], [0x0A, 0x0A]][ending]
        let reads = try readAlike(huge)
        #expect(reads.count == 1)
        guard case .malformed(let error) = reads.first else { return }
        #expect(error.line == 1 && error.message == Self.overLimit && error.file?.hasSuffix("events.jsonl") == true)
    }

    /// Lines around a line's longest part: one byte short of it, at it, one over, each with
    /// and without its newline at the end of the file.
    @Test(arguments: [-1, 0, 1])
    func linesAtTheLongestPart(delta: Int) throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let long = Array(repeating: UInt8(ascii: "y"), count: Self.chunk + delta)
        let first = Array(Self.line(1).utf8) + [0x0A]
        let reads = try readAlike(first + long + [0x0A] + Array(Self.line(3).utf8) + [0x0A] + long)
        #expect(reads.count == 4)
        if case .malformed(let error) = reads[1] { #expect(error.line == 2) } else { Issue.record("\(reads[1])") }
        if case .event(_, let line) = reads[2] { #expect(line == 3) } else { Issue.record("\(reads[2])") }
    }

    /// Lines long and short, blank and over-long (by the limit and by the longest part),
    /// laid so that many cross the boundaries of the smallest windows.
    @Test(arguments: 0..<6)
    func randomFilesReadAlikeMappedOrNot(seed: UInt64) throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var random = GroupTableTests.Stream(state: 0xf11e + seed)
        var bytes: [UInt8] = []
        var number = 0
        while number < 5000 || bytes.count < 3 * Self.chunk {
            number += 1
            switch random.next() % 2000 {
            case 0..<40: bytes += Array(" \t\r".utf8).shuffled(using: &random)
            case 40..<42: bytes += Array(repeating: UInt8(ascii: "z"), count: Self.chunk - 2 + Int(random.next() % 5))
            case 42..<44: bytes += Array(repeating: UInt8(ascii: "z"), count: Int(random.next() % UInt64(2 * Self.chunk)))
            case 50..<150: bytes += Array(Self.line(number, padding: 4000 + Int(random.next() % 200)).utf8)
            case 150..<200: bytes += Array("{broken".utf8)
            default: bytes += Array(Self.line(number, padding: Int(random.next() % 300)).utf8)
            }
            if random.next() % 9 == 0 { bytes.append(0x0D) }
            bytes.append(0x0A)
        }
        if random.next() % 2 == 0 { bytes.removeLast() }
        let reads = try readAlike(bytes)
        #expect(reads.count > 2000)
    }

    /// The file cut short while its first window is read: no crash, the lines before the
    /// cut as they were, and then what read(2) finds (the cut line's start, or nothing).
    @Test(arguments: [200_000, 1000, 0])
    func aFileThatShrinksWhileMappedEndsWhereItNowEnds(cut: Int) throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let lines = (1...20_000).map { Self.line($0, padding: 100) }
        let text = lines.joined(separator: "\n") + "\n"
        let path = try file(Array(text.utf8))
        let reader = try EventFileReader(path: path, policy: .init(minimumBytes: 0, windowBytes: 4 * Self.chunk))
        reader.fields = .all
        let before = try Self.readAll(reader, limit: 100)
        #expect(before.count == 100)
        #expect(truncate(path, off_t(cut)) == 0)
        let after = try Self.readAll(reader)
        var events = 0, malformed = 0
        for read in after {
            switch read {
            case .event(let event, let line):
                events += 1
                #expect(event.sessionID == String(line))
            case .malformed: malformed += 1
            }
        }
        #expect(malformed <= 1)
        if cut <= 1000 {
            #expect(events == 0)
        } else {
            // Every line wholly before the cut is read, the cut one at most as a malformed line.
            let offsets = lines.reduce(into: [0]) { $0.append($0.last! + $1.utf8.count + 1) }
            let complete = offsets.dropFirst().prefix { $0 <= cut }.count
            #expect(events == complete - 100)
        }
    }

    /// A file that grows after it was mapped is read to its new end, as read(2) reads it.
    @Test func aFileThatGrowsWhileMappedIsReadToItsNewEnd() throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The last line lacks its closing brace until the file grows.
        let text = (1...3000).map { Self.line($0, padding: 100) }.joined(separator: "\n") + "\n" + Self.line(3001).dropLast()
        let path = try file(Array(text.utf8))
        let reader = try EventFileReader(path: path, policy: Self.smallWindows)
        reader.fields = .all
        let before = try Self.readAll(reader, limit: 10)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data((",\"x\":1}\n" + Self.line(3002) + "\n").utf8))
        try handle.close()
        let after = try Self.readAll(reader)
        #expect(before.count + after.count == 3002)
        #expect(after.allSatisfy { if case .event = $0 { true } else { false } })
    }
}
