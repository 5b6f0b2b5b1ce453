import Testing
import Foundation
@testable import Forensics

@Suite(.serialized) struct JournalTests {
    /// A finished incident with several entries, to tamper with.
    static func journalWithEntries() throws -> RunbookBench {
        let bench = try RunbookBench()
        let runbook = try bench.writeRunbook("three.yaml", """
        id: three
        title: Three manual steps
        description: For journal tests.
        version: 1
        steps:
          - {id: one, title: One, kind: manual}
          - {id: two, title: Two, kind: manual}
          - {id: three, title: Three, kind: manual}
          - {id: four, title: Four, kind: manual}
        """)
        var incident = try bench.start(runbook)
        _ = try incident.confirm("one", note: "first \"quoted\" note\nwith a newline and ü")
        _ = try incident.skip("two", reason: "not needed")
        _ = try incident.confirm("three", note: "third")
        return bench
    }

    @Test func aSoundJournalVerifiesAndReadsBack() throws {
        let bench = try Self.journalWithEntries()
        let verification = try IncidentJournal(directory: bench.state + "/inc-1").verify()
        #expect(verification.findings == [])
        #expect(verification.entries == 4)
        #expect(verification.evidenceFiles == 1)
        let entries = try IncidentJournal.entries(at: bench.state + "/inc-1")
        #expect(entries.map(\.event) == [.started, .stepDone, .stepSkipped, .stepDone])
        #expect(entries.map(\.seq) == [1, 2, 3, 4])
        #expect(entries[1].note == "first \"quoted\" note\nwith a newline and ü")
        #expect(entries[1].milliseconds == 1_795_568_402_000)
        #expect(try IncidentJournal.entries(at: bench.state + "/inc-1/journal.jsonl") == entries)
        for pair in zip(entries, entries.dropFirst()) { #expect(pair.1.prev == pair.0.hash) }
        #expect(entries[0].prev == JournalEntry.genesis)
        #expect(verification.head == entries.last?.hash)
    }

    @Test func anEditedNoteIsNamedByLine() throws {
        let bench = try Self.journalWithEntries()
        var lines = try bench.journalLines()
        lines[2] = lines[2].replacingOccurrences(of: "not needed", with: "not wanted")
        try bench.writeJournal(lines)
        let findings = try IncidentJournal(directory: bench.state + "/inc-1").verify().findings
        #expect(findings.map(\.line) == [3])
        #expect(findings.first?.message.contains("edited") == true)
        #expect(findings.first?.description.hasPrefix("journal.jsonl:3: ") == true)
    }

    @Test func anEditWithARecomputedHashBreaksTheNextLink() throws {
        let bench = try Self.journalWithEntries()
        let entries = try IncidentJournal.entries(at: bench.state + "/inc-1")
        var forged = entries[1]
        forged.note = "something else"
        forged.hash = forged.computedHash
        var lines = try bench.journalLines()
        lines[1] = String(decoding: forged.line, as: UTF8.self)
        try bench.writeJournal(lines)
        let findings = try IncidentJournal(directory: bench.state + "/inc-1").verify().findings
        #expect(findings.map(\.line) == [3])
        #expect(findings.first?.message.contains("does not chain to entry 2") == true)
    }

    @Test func aDeletedLineIsNamed() throws {
        let bench = try Self.journalWithEntries()
        var lines = try bench.journalLines()
        lines.remove(at: 1)
        try bench.writeJournal(lines)
        let findings = try IncidentJournal(directory: bench.state + "/inc-1").verify().findings
        #expect(findings.map(\.line) == [2])
        #expect(findings.first?.message.contains("entry 2, which entry 3 follows, is missing") == true)
    }

    @Test func swappedLinesAreNamed() throws {
        let bench = try Self.journalWithEntries()
        var lines = try bench.journalLines()
        lines.swapAt(1, 2)
        try bench.writeJournal(lines)
        let findings = try IncidentJournal(directory: bench.state + "/inc-1").verify().findings
        #expect(findings.map(\.line) == [3])
        #expect(findings.first?.message.contains("reordered") == true)
    }

    @Test func aCutEndIsFoundAgainstARecordedHead() throws {
        let bench = try Self.journalWithEntries()
        let journal = IncidentJournal(directory: bench.state + "/inc-1")
        let head = try #require(try journal.verify().head)
        #expect(try journal.verify(expectedHead: head).isVerified)
        var lines = try bench.journalLines()
        lines.removeLast()
        try bench.writeJournal(lines)
        #expect(try journal.verify().isVerified, "a cut at the end is invisible to the chain alone")
        let findings = try journal.verify(expectedHead: head).findings
        #expect(findings.count == 1)
        #expect(findings.first?.line == nil)
        #expect(findings.first?.message.contains("cut from the end") == true)
    }

    @Test func aTornLastLineAndAHandFormattedLineAreNamed() throws {
        let bench = try Self.journalWithEntries()
        let path = bench.state + "/inc-1/journal.jsonl"
        var lines = try bench.journalLines()
        lines[1] = lines[1].replacingOccurrences(of: "{", with: "{ ")
        try bench.writeJournal(lines)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("{\"seq\":5,".utf8))
        try handle.close()
        let findings = try IncidentJournal(directory: bench.state + "/inc-1").verify().findings
        #expect(findings.map(\.line) == [2, 5])
        #expect(findings[0].message.contains("canonical form"))
        #expect(findings[1].message.contains("incomplete line"))
    }

    @Test func aChangedEvidenceFileIsNamed() throws {
        let bench = try Self.journalWithEntries()
        try Data("id: changed\n".utf8).write(to: URL(fileURLWithPath: bench.state + "/inc-1/runbook.yaml"))
        let findings = try IncidentJournal(directory: bench.state + "/inc-1").verify().findings
        #expect(findings.map(\.line) == [1])
        #expect(findings.first?.message.contains("evidence runbook.yaml") == true)
    }

    @Test func aBrokenJournalIsNotExtended() throws {
        let bench = try Self.journalWithEntries()
        var lines = try bench.journalLines()
        lines.remove(at: 2)
        try bench.writeJournal(lines)
        #expect(throws: ForensicsError.self) { var incident = try bench.resume(); _ = try incident.confirm("four", note: "x") }
        #expect(try bench.journalLines().count == 3)
    }

    /// The reader over arbitrary bytes: never traps, names every line it cannot take, and
    /// keeps every line it can.
    @Test(arguments: 0..<6) func readerSurvivesGarbage(seed: Int) throws {
        let bench = try Self.journalWithEntries()
        let good = try bench.journalLines()
        var generator = SeededGenerator(seed: UInt64(seed))
        let fragments = ["{", "}", "\"seq\":", "1", "-1", "1e3", "null", "[]", "\"hash\":\"", "\\u0000", "\u{feff}", "ü", ",", ":", " "]
        for _ in 0..<80 {
            var lines = good
            let mutations = Int.random(in: 1...4, using: &generator)
            for _ in 0..<mutations {
                let index = Int.random(in: 0..<lines.count, using: &generator)
                switch Int.random(in: 0..<5, using: &generator) {
                case 0:
                    lines[index] = String(decoding: [UInt8].random(Int.random(in: 0...80, using: &generator), using: &generator), as: UTF8.self)
                        .replacingOccurrences(of: "\n", with: "")
                case 1:
                    var bytes = Array(lines[index].utf8)
                    if !bytes.isEmpty { bytes[Int.random(in: 0..<bytes.count, using: &generator)] ^= UInt8.random(in: 1...255, using: &generator) }
                    lines[index] = String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "\n", with: "")
                case 2:
                    lines[index] = (0..<Int.random(in: 1...12, using: &generator)).map { _ in fragments.randomElement(using: &generator)! }.joined()
                case 3:
                    lines.insert(lines[index], at: index)
                default:
                    let cut = Int.random(in: 0...lines[index].utf8.count, using: &generator)
                    lines[index] = String(decoding: lines[index].utf8.prefix(cut), as: UTF8.self)
                }
            }
            let bytes = Array((lines.joined(separator: "\n") + "\n").utf8)
            let reading = IncidentJournal.decode(bytes)
            let findings = IncidentJournal.chainFindings(reading)
            let total = bytes.count { $0 == UInt8(ascii: "\n") }
            #expect(Set(reading.lines.map(\.number) + reading.findings.compactMap(\.line)) == Set(1...total))
            for line in reading.lines { #expect(line.entry.line == Array(lines[line.number - 1].utf8) || findings.contains { $0.line == line.number }) }
            if lines != good { #expect(!findings.isEmpty, "a changed journal must not verify") }
        }
    }

    /// `mtforensics timeline --journal` reads the journal as written, every entry in order.
    @Test func theTimelineReadsTheJournal() throws {
        let bench = try Self.journalWithEntries()
        var builder = TimelineBuilder(query: TimelineQuery())
        try builder.add(file: bench.state + "/inc-1/journal.jsonl", as: .journal)
        #expect(builder.problems.isEmpty)
        let entries = try IncidentJournal.entries(at: bench.state + "/inc-1")
        #expect(builder.entries.map(\.time) == entries.compactMap(\.milliseconds))
        #expect(builder.entries.map(\.kind) == entries.map(\.event.rawValue))
    }
}
