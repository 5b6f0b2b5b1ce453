import EventLog
import Foundation
import Testing
@testable import Forensics

@Suite struct TimelineTests {
    static let events = """
    {"@timestamp":"2026-03-01T00:00:02.000Z","event.action":"handshake.failed","event.reason":"bad_secret","source.ip":"198.51.100.23","source.prefix":"198.51.100.0/24"}
    {"@timestamp":"2026-03-01T00:00:00.000Z","event.action":"connection.accepted","source.ip":"198.51.100.23","source.prefix":"198.51.100.0/24"}
    {"@timestamp":"2026-03-01T00:00:01.000Z","event.action":"connection.accepted","source.ip":"203.0.113.9","source.prefix":"203.0.113.0/24"}
    {"@timestamp":"2026-03-01T00:00:03.000Z","event.action":"connection.accepted","source.ip_hash":"a1b2c3d4e5f60718"}
    {"@timestamp":"2026-03-01T00:10:00.000Z","event.action":"probe.forwarded","event.reason":"tls_digest","source.ip":"198.51.100.99","source.prefix":"198.51.100.0/24"}

    """

    static let auditor = """
    {"type":"alert","time":"2026-03-01T00:00:02.500Z","rule":"handshake-flood","kind":"threshold","group":{"source.ip":"198.51.100.23"},"count":20}
    {"type":"decision","value":"198.51.100.23","scope":"ip","rule":"handshake-flood","reason":"20 events in 1m","created":"2026-03-01T00:00:02.500Z","until":"2026-03-01T01:00:02.500Z","repeat":1,"simulated":false}
    {"type":"decision","value":"198.51.100.0/24","scope":"cidr","rule":"scan","reason":"distinct","created":"2026-03-01T00:11:00.000Z","until":"2026-03-01T01:11:00.000Z"}

    """

    /// As `mtforensics runbook` writes it (JournalEntry).
    static let journal = """
    {"actor":"alice","event":"started","evidence":[],"hash":"aa","incident":"INC-1","prev":"00","runbook":{"id":"flood","version":1},"seq":1,"time":"2026-03-01T00:05:00.000Z"}
    {"actor":"alice","event":"step_done","evidence":[{"bytes":12,"path":"steps/preserve/stdout.txt","sha256":"ab12"}],"hash":"bb","incident":"INC-1","note":"snapshot taken","prev":"aa","seq":2,"step":"preserve","time":"2026-03-01T00:06:00.000Z"}

    """

    func builder(_ query: TimelineQuery = TimelineQuery()) throws -> (TimelineBuilder, TemporaryDirectory) {
        let directory = try TemporaryDirectory()
        var builder = TimelineBuilder(query: query)
        try builder.add(file: try directory.write("events.jsonl", Self.events), as: .events)
        try builder.add(file: try directory.write("auditor.jsonl", Self.auditor), as: .auditor)
        try builder.add(file: try directory.write("journal.jsonl", Self.journal), as: .journal)
        return (builder, directory)
    }

    @Test func entriesFromEverySourceComeOutInTimeOrder() throws {
        let (builder, _) = try builder()
        let ordered = builder.ordered()
        #expect(builder.problems.isEmpty, "\(builder.problems)")
        #expect(ordered.count == 10)
        #expect(ordered.map(\.time) == ordered.map(\.time).sorted())
        #expect(ordered.map(\.kind).prefix(5) == ["connection.accepted", "connection.accepted", "handshake.failed", "alert", "decision"])
        #expect(ordered[6].source == .journal && ordered[6].kind == "started")
        #expect(ordered[2].origin.hasSuffix("events.jsonl:1"))
        #expect(ordered[2].details.contains(.init("reason", "bad_secret")))
        #expect(ordered[5].subject == "a1b2c3d4e5f60718")
        #expect(!ordered[6].details.contains { $0.name == "hash" || $0.name == "prev" })
        #expect(ordered[7].details.contains(.init("evidence", "bytes=12;path=steps/preserve/stdout.txt;sha256=ab12")))
        #expect(ordered[7].details.contains(.init("runbook.id", "flood")) == false && ordered[6].details.contains(.init("runbook.id", "flood")))
    }

    @Test func anAddressKeepsItsEventsTheDecisionsCoveringItAndTheJournal() throws {
        let (builder, _) = try builder(TimelineQuery(subject: TimelineQuery.subject("198.51.100.23")))
        let kinds = builder.ordered().map { "\($0.source.rawValue) \($0.kind)" }
        #expect(kinds == ["proxy connection.accepted", "proxy handshake.failed", "auditor alert", "auditor decision",
                          "journal started", "journal step_done", "auditor decision"])
    }

    @Test func aNetworkKeepsEveryAddressInside() throws {
        let (builder, _) = try builder(TimelineQuery(subject: TimelineQuery.subject("198.51.100.0/24")))
        let subjects = builder.ordered().filter { $0.source != .journal }.map { $0.subject ?? "-" }
        #expect(subjects == ["198.51.100.23", "198.51.100.23", "198.51.100.23", "198.51.100.23", "198.51.100.99", "198.51.100.0/24"])
    }

    @Test func anAddressHashMatchesHashedEvents() throws {
        let (builder, _) = try builder(TimelineQuery(subject: TimelineQuery.subject("a1b2c3d4e5f60718")))
        #expect(builder.ordered().filter { $0.source == .proxy }.map(\.kind) == ["connection.accepted"])
    }

    @Test func theTimeWindowAppliesToEverySource() throws {
        let from = RFC3339.milliseconds(Array("2026-03-01T00:00:02.000Z".utf8))!
        let until = RFC3339.milliseconds(Array("2026-03-01T00:05:30.000Z".utf8))!
        let (builder, _) = try builder(TimelineQuery(from: from, until: until))
        #expect(builder.ordered().map(\.kind) == ["handshake.failed", "alert", "decision", "connection.accepted", "started"])
    }

    @Test func badLinesAreNamedAndTheRestIsKept() throws {
        let directory = try TemporaryDirectory()
        let path = try directory.write("mixed.jsonl", "not json\n" + Self.events + "{\"event.action\":\"x\"}\n")
        let auditorPath = try directory.write("auditor.jsonl", "{\"type\":\"alarm\",\"time\":\"2026-03-01T00:00:00Z\"}\n[1]\n" + Self.auditor)
        var builder = TimelineBuilder(query: TimelineQuery())
        try builder.add(file: path, as: .events)
        try builder.add(file: auditorPath, as: .auditor)
        #expect(builder.ordered().count == 8)
        #expect(builder.problems.map(\.description) == [
            "\(path):1: not a JSON object (expected '{' at column 1)",
            "\(path):7: field @timestamp: missing",
            "\(auditorPath):1: field type: \"alarm\" is neither alert nor decision",
            "\(auditorPath):2: not a JSON object",
        ])
    }

    @Test func aMissingFileIsAnError() {
        var builder = TimelineBuilder(query: TimelineQuery())
        #expect(throws: ForensicsError.self) { try builder.add(file: "/nonexistent/mtshield/events.jsonl", as: .events) }
    }

    @Test func anArchiveGivesItsEventsFindingsAndJournal() throws {
        let directory = try TemporaryDirectory()
        let members = [("proxy/events.jsonl", Self.events), ("auditor/findings.jsonl", Self.auditor),
                       ("incidents/INC-1/journal.jsonl", Self.journal), ("system/uptime.txt", "up 3 days\n")]
            .map { EvidenceArchiveWriter.Member(path: $0.0, contents: Array($0.1.utf8), size: UInt64($0.1.utf8.count)) }
        let written = try EvidenceArchiveWriter(format: .lz4, modificationTime: 0).write(members: members, to: directory.file("e.tar.lz4"))
        var builder = TimelineBuilder(query: TimelineQuery())
        let used = try builder.add(archive: written.archivePath)
        #expect(used == ["proxy/events.jsonl", "auditor/findings.jsonl", "incidents/INC-1/journal.jsonl"])
        #expect(builder.ordered().count == 10)
        #expect(builder.ordered().first?.origin == written.archivePath + ":proxy/events.jsonl:2")
    }

    @Test func formats() throws {
        let entry = TimelineEntry(time: 0, source: .proxy, kind: "handshake.failed", subject: "198.51.100.23",
                                  details: [.init("message", "a, \"quoted\"\nline"), .init("labels.x", "=cmd()")], origin: "f:1")
        #expect(TimelineFormat.text.line(entry)
            == "1970-01-01T00:00:00.000Z  proxy   handshake.failed   198.51.100.23  message=a, \"quoted\"\\u{a}line labels.x==cmd()")
        #expect(TimelineFormat.csv.line(entry)
            == "1970-01-01T00:00:00.000Z,proxy,handshake.failed,198.51.100.23,\"message=a, \"\"quoted\"\"\nline labels.x==cmd()\",f:1")
        #expect(TimelineFormat.csvField("=cmd()") == "'=cmd()")
        #expect(TimelineFormat.csvField("-5") == "-5")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(TimelineFormat.jsonl.line(entry).utf8)) as? [String: Any])
        #expect(json["subject"] as? String == "198.51.100.23")
        #expect((json["details"] as? [String: String])?["message"] == "a, \"quoted\"\nline")
    }

    @Test(arguments: [1, 2, 3, 7, 64, 4096])
    func lineSplittingDoesNotDependOnChunking(chunk: Int) {
        let text = Array("first\n\nsecond line\nthis line is far too long\nlast".utf8)
        var splitter = LineSplitter(maximumLine: 12)
        var lines: [String] = []
        var tooLong: [Int] = []
        var start = 0
        while start < text.count {
            let end = min(text.count, start + chunk)
            text[start..<end].withUnsafeBytes { bytes in
                splitter.feed(bytes, line: { lines.append("\($1):" + String(decoding: $0, as: UTF8.self)) }, tooLong: { tooLong.append($0) })
            }
            start = end
        }
        splitter.finish { lines.append("\($1):" + String(decoding: $0, as: UTF8.self)) }
        #expect(lines == ["1:first", "2:", "3:second line", "5:last"])
        #expect(tooLong == [4])
    }

    @Test func garbageNeverCrashesAndEveryLineIsAccounted() throws {
        var generator = SeededGenerator(seed: 7)
        let directory = try TemporaryDirectory()
        for round in 0..<40 {
            var bytes = [UInt8].random(Int.random(in: 0...8192, using: &generator), using: &generator)
            if round % 2 == 0 { bytes += Array(Self.events.utf8) }
            let path = try directory.write("garbage\(round).jsonl", bytes)
            for kind in TimelineBuilder.InputKind.allCases {
                var builder = TimelineBuilder(query: TimelineQuery())
                try builder.add(file: path, as: kind)
                #expect(builder.entries.count + builder.problems.count == builder.linesRead)
            }
        }
    }
}
