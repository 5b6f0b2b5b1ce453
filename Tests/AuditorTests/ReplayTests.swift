import Auditor
import EventLog
import Foundation
import Testing

@Suite struct ReplayTests {
    static func temporaryFile(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "events-\(UInt64.random(in: 0...UInt64.max)).jsonl"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static func line(_ second: Int, _ ip: String) -> String {
        #"{"@timestamp":"2026-05-01T00:00:\#(second < 10 ? "0" : "")\#(second).000Z","event.action":"handshake.failed","event.reason":"bad_secret","source.ip":"\#(ip)"}"#
    }

    @Test func filesAreMergedInEventTimeAndMalformedLinesReported() throws {
        let rule = try Rule.parse(yaml: "name: t\nkind: threshold\ngroup_by: [source.ip]\nwindow: 5s\ncount: 3\n", file: "t.yaml")
        // Read one after the other, the three events would span 20 s; merged, they span 4 s.
        let first = try Self.temporaryFile([Self.line(0, "203.0.113.1"), "{broken", Self.line(20, "203.0.113.1")].joined(separator: "\n"))
        let second = try Self.temporaryFile("\n" + [Self.line(2, "203.0.113.1"), Self.line(4, "203.0.113.1")].joined(separator: "\n") + "\n")
        defer {
            try? FileManager.default.removeItem(atPath: first)
            try? FileManager.default.removeItem(atPath: second)
        }
        let result = try replay(RuleEngine(rules: [rule]), paths: [first, second])
        #expect(result.summary.events == 4)
        #expect(result.summary.alerts == 1)
        #expect(result.malformed.map(\.description) == ["\(first):2: expected a quoted key at column 2"])
        #expect(result.lines.first?.contains(#""first":"2026-05-01T00:00:00.000Z","last":"2026-05-01T00:00:04.000Z""#) == true)
    }

    @Test func aVeryLongLineIsSkippedNotBuffered() throws {
        let huge = String(repeating: "x", count: 3 << 20)
        let path = try Self.temporaryFile(Self.line(0, "203.0.113.1") + "\n" + huge + "\n" + Self.line(1, "203.0.113.1") + "\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let rule = try Rule.parse(yaml: "name: t\nkind: trigger\ngroup_by: [source.ip]\n", file: "t.yaml")
        let result = try replay(RuleEngine(rules: [rule]), paths: [path])
        #expect(result.summary.events == 2)
        #expect(result.malformed.count == 1)
        #expect(result.malformed.first?.line == 2)
    }

    @Test func aMissingFileIsAnInputError() throws {
        #expect(throws: AuditorError.self) {
            _ = try replay(RuleEngine(rules: []), paths: ["/nonexistent/events.jsonl"])
        }
    }
}
