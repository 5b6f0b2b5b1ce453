import Auditor
import Foundation
import Testing
@testable import Forensics

/// The auditor's state is SQLite in WAL mode: recent bans may live only in its `-wal` file
/// until a checkpoint. A snapshot taken while the auditor runs must still hold them.
@Suite struct SnapshotDatabaseTests {
    @Test func aLiveAuditorStateIsSnapshotWithWhatItsWALHolds() async throws {
        let deployment = try FakeDeployment()
        let statePath = deployment.directory.file("var/auditor.sqlite")
        unlink(statePath)
        let store = try await DecisionStore.open(path: statePath)
        let decisions = (1...25).map { index in
            Decision(value: "203.0.113.\(index)", scope: .ip, rule: "flood", reason: "\(index) events in 1m",
                     created: 1_795_560_000_000 + Int64(index), until: 1_795_563_600_000, repeatCount: 1)
        }
        try await store.record(decisions)
        let wal = try #require(SystemFiles.status(statePath + "-wal"), "the store is in WAL mode")
        #expect(wal.st_size > 0)

        let result = try deployment.snapshot()
        let outcome = try #require(result.custody.artifacts.first { $0.name == "auditor-decisions" })
        #expect(outcome.status == .collected, "\(outcome.error ?? "")")

        // The live store was only read: it still takes writes.
        try await store.record([Decision(value: "198.51.100.9", scope: .ip, rule: "flood", reason: "after the snapshot",
                                          created: 1_795_560_100_000, until: 1_795_563_600_000, repeatCount: 1)])
        #expect(try await store.decisions(since: Int64.min).count == 26)
        await store.close()

        let extracted = try deployment.extractWithTools(result.archivePath, format: .lz4)
        let copy = extracted + "/auditor/decisions.sqlite"
        #expect(try readBytes(copy).starts(with: DatabaseCopy.magic))
        #expect(SystemFiles.status(copy + "-wal") == nil, "the archive holds one self-contained file")
        let snapshotStore = try await DecisionStore.open(path: copy)
        let found = try await snapshotStore.decisions(since: Int64.min)
        await snapshotStore.close()
        #expect(found.map(\.decision) == decisions)

        // The staging directory, with its temporary copy, is gone.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: deployment.out).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }
}
