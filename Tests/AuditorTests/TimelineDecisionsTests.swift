import Auditor
import Foundation
import Testing

/// `mtforensics timeline` reads the auditor's state database, live or inside an archive.
@Suite struct TimelineDecisionsTests {
    @Test func timelineReadsDecisionsFromAStateFileAndFromAnArchive() async throws {
        let directory = NSTemporaryDirectory() + "mtshield-timeline-\(UUID())"
        try FileManager.default.createDirectory(atPath: directory + "/auditor", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let state = directory + "/auditor/decisions.sqlite"
        let store = try await DecisionStore.open(path: state)
        try await store.record([Decision(value: "203.0.113.7", scope: .ip, rule: "flood", reason: "25 events in 1m",
                                         created: 1_700_000_000_000, until: 1_700_003_600_000, repeatCount: 1)])
        await store.close()
        let binary = TestFiles.packageRoot + "/.build/debug/mtforensics"
        #expect(FileManager.default.isExecutableFile(atPath: binary), "build the mtforensics product first")

        let live = try run(["sh", "-c", "'\(binary)' timeline --state '\(state)' --format jsonl"])
        #expect(live.contains(#""subject":"203.0.113.7""#) && live.contains(#""rule":"flood""#), "\(live)")
        #expect(live.contains(#""time":"2023-11-14T22:13:20.000Z""#), "\(live)")

        try run(["sh", "-c", "cd '\(directory)' && tar -cf - auditor/decisions.sqlite | lz4 -q > evidence.tar.lz4"])
        let archived = try run(["sh", "-c", "'\(binary)' timeline --archive '\(directory)/evidence.tar.lz4' --address 203.0.113.0/24 --format jsonl"])
        #expect(archived.contains("evidence.tar.lz4:auditor/decisions.sqlite#1"), "\(archived)")

        let junk = directory + "/junk.sqlite"
        try Data("not a database, 12 bytes of junk".utf8).write(to: URL(fileURLWithPath: junk))
        let refused = try run(["sh", "-c", "'\(binary)' timeline --state '\(junk)' 2>&1; echo status=$?"])
        #expect(refused.contains("\(junk): ") && refused.contains("not an SQLite database") && refused.hasSuffix("status=1\n"), "\(refused)")

        let other = try run(["sh", "-c", "'\(binary)' timeline --state '\(state)' --address 198.51.100.1"])
        #expect(other.isEmpty, "\(other)")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: "/tmp").filter { $0.hasPrefix("mtforensics-timeline-") }
        #expect(leftovers.isEmpty, "temporary copies are removed: \(leftovers)")
    }
}
