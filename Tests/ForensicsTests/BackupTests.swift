import Auditor
import Foundation
import Testing
@testable import Forensics

/// `mtforensics backup` / `restore`: a round trip byte for byte, and a damaged backup
/// refused with nothing written.
@Suite(.serialized) struct BackupTests {
    /// A proxy configuration naming its blocklist, an auditor configuration naming its
    /// state, one extra file; modes 0600 / 0640 / 0644.
    final class Deployment {
        let directory: TemporaryDirectory
        let proxyConfig: String
        let blocklist: String
        let auditorConfig: String
        let state: String
        let extra: String
        let backups: String

        init() throws {
            directory = try TemporaryDirectory()
            blocklist = try directory.write("etc/blocklist.txt", "203.0.113.7\n198.51.100.0/24\n")
            state = try directory.write("var/decisions.sqlite", (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) })
            proxyConfig = try directory.write("etc/mtproxy.yaml", """
            # comment kept
            secrets:
              - name: main
                secret: dd00112233445566778899aabbccddeeff
            blocklist: blocklist.txt
            """)
            auditorConfig = try directory.write("etc/mtauditor.yaml", "state: \(state)\n")
            extra = try directory.write("etc/extra.txt", "extra\n")
            chmod(proxyConfig, 0o600)
            chmod(blocklist, 0o640)
            chmod(extra, 0o644)
            backups = directory.file("backups")
        }

        var files: [String] { [proxyConfig, blocklist, auditorConfig, state, extra] }

        func backup(at milliseconds: Int64 = 1_780_000_000_000) throws -> ConfigurationBackup.Created {
            let sources = try ConfigurationBackup.sources(proxyConfig: proxyConfig, auditorConfig: auditorConfig,
                                                          includes: [extra])
            return try ConfigurationBackup.create(sources: sources, into: backups, nowMilliseconds: milliseconds)
        }

        func contents() throws -> [String: [UInt8]] {
            var result: [String: [UInt8]] = [:]
            for file in files { result[file] = try readBytes(file) }
            return result
        }
    }

    @Test func backupThenRestoreRoundTripsByteForByte() throws {
        let deployment = try Deployment()
        let original = try deployment.contents()
        let created = try deployment.backup()

        #expect(created.archivePath == deployment.backups + "/mtshield-20260528-202640.tar.lz4")
        #expect(created.sidecarPath == created.archivePath + ".sha256")
        #expect(Set(created.files.map(\.role)) == ["proxy-config", "blocklist", "auditor-config", "auditor-state", "include"])
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: deployment.backups + "/latest")
                == "mtshield-20260528-202640.tar.lz4")
        #expect(try permissions(created.archivePath) == 0o600)
        #expect(try permissions(deployment.backups) == 0o700)
        #expect(try ArchiveVerifier.verify(archivePath: created.archivePath).isVerified)

        // Change and remove the originals, then restore from `latest`.
        for file in deployment.files { try Data("changed\n".utf8).write(to: URL(fileURLWithPath: file)) }
        chmod(deployment.proxyConfig, 0o666)
        unlink(deployment.blocklist)
        let archive = try ConfigurationBackup.resolve(nil, directory: deployment.backups)
        #expect(archive == created.archivePath)
        let restored = try ConfigurationBackup.restore(archivePath: archive)
        #expect(Set(restored.files) == Set(deployment.files))
        #expect(try deployment.contents() == original)
        #expect(try permissions(deployment.proxyConfig) == 0o600)
        #expect(try permissions(deployment.blocklist) == 0o640)
        #expect(try permissions(deployment.extra) == 0o644)
        // No staging left behind, beside the files or in the backups.
        #expect(try FileManager.default.contentsOfDirectory(atPath: deployment.directory.file("etc")).sorted()
                == ["blocklist.txt", "extra.txt", "mtauditor.yaml", "mtproxy.yaml"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: deployment.backups).sorted()
                == ["latest", "mtshield-20260528-202640.tar.lz4", "mtshield-20260528-202640.tar.lz4.sha256"])
    }

    /// The auditor's state while the auditor runs: its newest decisions are only in the
    /// `-wal` file (the connection is open, nothing checkpointed). The backup holds them,
    /// and the restored store finds them.
    @Test func aLiveAuditorStateIsBackedUpWithWhatItsWALHolds() async throws {
        let deployment = try Deployment()
        unlink(deployment.state)
        let store = try await DecisionStore.open(path: deployment.state)
        let decisions = (1...40).map { index in
            Decision(value: "203.0.113.\(index)", scope: .ip, rule: "flood", reason: "\(index) events in 1m",
                     created: 1_780_000_000_000 + Int64(index), until: 1_780_003_600_000, repeatCount: 1)
        }
        try await store.record(decisions)
        let wal = try #require(SystemFiles.status(deployment.state + "-wal"), "the store is in WAL mode")
        #expect(wal.st_size > 0)

        // The failure this guards against: the main file alone does not hold the decisions.
        let copies = try TemporaryDirectory()
        let mainFileOnly = try copies.write("main-only.sqlite", try readBytes(deployment.state))
        let naive = try await DecisionStore.open(path: mainFileOnly)
        let naiveDecisions = try await naive.decisions(since: Int64.min)
        await naive.close()
        #expect(naiveDecisions.isEmpty)

        let created = try deployment.backup()
        #expect(created.files.contains { $0.role == "auditor-state" })
        // The live store was only read: it still works and still has its WAL.
        try await store.record([Decision(value: "198.51.100.9", scope: .ip, rule: "flood", reason: "after the backup",
                                          created: 1_780_000_100_000, until: 1_780_003_600_000, repeatCount: 1)])
        #expect(try await store.decisions(since: Int64.min).count == 41)
        await store.close()

        let root = try TemporaryDirectory()
        _ = try ConfigurationBackup.restore(archivePath: created.archivePath, root: root.path)
        let restoredPath = root.path + deployment.state
        #expect(try readBytes(restoredPath).starts(with: DatabaseCopy.magic))
        let restored = try await DecisionStore.open(path: restoredPath)
        let found = try await restored.decisions(since: Int64.min)
        #expect(try await restored.banCount(of: "203.0.113.7") == 1)
        await restored.close()
        #expect(found.map(\.decision) == decisions)
    }

    /// The same through the binaries, across processes as in production: the auditor's
    /// connection (here, this process) holds the decisions in its WAL while `mtforensics
    /// backup` runs; `mtforensics restore --root` puts back a state that holds them.
    @Test func theBackupCommandCopiesALiveStateFromAnotherProcess() async throws {
        let binary = CommandLineTests.binary
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build the mtforensics product first")
        let deployment = try Deployment()
        unlink(deployment.state)
        let store = try await DecisionStore.open(path: deployment.state)
        try await store.record([Decision(value: "203.0.113.0/24", scope: .cidr, rule: "scan", reason: "held by the WAL",
                                         created: 1_780_000_000_000, until: 1_780_003_600_000, repeatCount: 2)])
        #expect((SystemFiles.status(deployment.state + "-wal")?.st_size ?? 0) > 0)
        let backup = try await runAsync([binary, "backup", "--proxy-config", deployment.proxyConfig,
                                         "--auditor-config", deployment.auditorConfig, "--out", deployment.backups])
        await store.close()
        #expect(backup.status == 0, "\(backup.error)")
        #expect(backup.text.contains("auditor-state: \(deployment.state)"), "\(backup.text)")

        let root = try TemporaryDirectory()
        let restore = try await runAsync([binary, "restore", "--dir", deployment.backups, "--root", root.path])
        #expect(restore.status == 0, "\(restore.error)")
        let restored = try await DecisionStore.open(path: root.path + deployment.state)
        let found = try await restored.decisions(since: Int64.min)
        await restored.close()
        #expect(found.map(\.decision.value) == ["203.0.113.0/24"])
        #expect(found.first?.decision.repeatCount == 2)
    }

    /// Runs a program without blocking a thread of the cooperative pool while it runs.
    private func runAsync(_ arguments: [String]) async throws -> ToolRun {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: arguments[0])
        process.arguments = Array(arguments.dropFirst())
        let output = try TemporaryDirectory()
        let stdout = FileHandle(forWritingAtPath: try output.write("out", ""))!
        let stderr = FileHandle(forWritingAtPath: try output.write("err", ""))!
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        try stdout.close()
        try stderr.close()
        return ToolRun(status: status, output: try readBytes(output.file("out")),
                       error: String(decoding: try readBytes(output.file("err")), as: UTF8.self))
    }

    /// Restoring a database over one whose old `-wal` is still beside it: the stale WAL
    /// would be replayed over the restored pages, so it is removed.
    @Test func restoringADatabaseRemovesItsStaleWAL() async throws {
        let deployment = try Deployment()
        unlink(deployment.state)
        let store = try await DecisionStore.open(path: deployment.state)
        try await store.record([Decision(value: "203.0.113.7", scope: .ip, rule: "flood", reason: "backed up",
                                         created: 1_780_000_000_000, until: 1_780_003_600_000, repeatCount: 1)])
        await store.close()
        let created = try deployment.backup()
        for suffix in DatabaseCopy.companionSuffixes {
            _ = try deployment.directory.write("var/decisions.sqlite" + suffix, "stale \(suffix)\n")
        }
        _ = try ConfigurationBackup.restore(archivePath: created.archivePath)
        for suffix in DatabaseCopy.companionSuffixes {
            #expect(!FileManager.default.fileExists(atPath: deployment.state + suffix), "\(suffix)")
        }
        let restored = try await DecisionStore.open(path: deployment.state)
        let found = try await restored.decisions(since: Int64.min)
        await restored.close()
        #expect(found.map(\.decision.value) == ["203.0.113.7"])
    }

    @Test func aDamagedDatabaseStopsTheBackupWithItsName() throws {
        let deployment = try Deployment()
        var bytes = DatabaseCopy.magic + [UInt8](repeating: 0xA5, count: 8192)
        bytes[16] = 0x10  // page size 4096, the rest garbage
        bytes[17] = 0x00
        try Data(bytes).write(to: URL(fileURLWithPath: deployment.state))
        let error = #expect(throws: ForensicsError.self) { try deployment.backup() }
        #expect(error?.description.contains(deployment.state) == true, "\(String(describing: error))")
        #expect(!FileManager.default.fileExists(atPath: deployment.backups + "/latest"))
    }

    @Test func restoreUnderARootWritesNothingElsewhere() throws {
        let deployment = try Deployment()
        let created = try deployment.backup()
        let root = try TemporaryDirectory()
        let restored = try ConfigurationBackup.restore(archivePath: created.archivePath, root: root.path)
        #expect(restored.files == deployment.files.map { root.path + $0 })
        #expect(try readBytes(root.path + deployment.state) == readBytes(deployment.state))
    }

    @Test func latestFollowsTheNewestBackupAndAMissingBlocklistIsSkipped() throws {
        let deployment = try Deployment()
        _ = try deployment.backup(at: 1_780_000_000_000)
        unlink(deployment.blocklist)
        let second = try deployment.backup(at: 1_780_000_060_000)
        #expect(second.skipped.map(\.role) == ["blocklist"])
        #expect(try ConfigurationBackup.resolve(nil, directory: deployment.backups) == second.archivePath)
        #expect(try ConfigurationBackup.resolve("mtshield-20260528-202640.tar.lz4", directory: deployment.backups)
                .hasSuffix("mtshield-20260528-202640.tar.lz4"))
    }

    enum Damage: String, CaseIterable {
        case flippedByte, truncated, sidecarMismatch, sidecarMissing
    }

    @Test(arguments: Damage.allCases)
    func aDamagedBackupIsRefusedAndNothingIsWritten(damage: Damage) throws {
        let deployment = try Deployment()
        let created = try deployment.backup()
        var bytes = try readBytes(created.archivePath)
        switch damage {
        case .flippedByte:
            bytes[bytes.count / 2] ^= 0x01
            try Data(bytes).write(to: URL(fileURLWithPath: created.archivePath))
        case .truncated:
            try Data(bytes.prefix(bytes.count - 100)).write(to: URL(fileURLWithPath: created.archivePath))
        case .sidecarMismatch:
            try Data((String(repeating: "0", count: 64) + "  mtshield-20260528-202640.tar.lz4\n").utf8)
                .write(to: URL(fileURLWithPath: created.sidecarPath))
        case .sidecarMissing:
            unlink(created.sidecarPath)
        }
        for file in deployment.files { try Data("current\n".utf8).write(to: URL(fileURLWithPath: file)) }
        let before = try deployment.contents()
        #expect(throws: ForensicsError.self) {
            try ConfigurationBackup.restore(archivePath: created.archivePath)
        }
        #expect(try deployment.contents() == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: deployment.directory.file("etc")).count == 4)
    }

    @Test func aMissingRequiredFileStopsTheBackup() throws {
        let deployment = try Deployment()
        let sources = try ConfigurationBackup.sources(proxyConfig: deployment.proxyConfig, auditorConfig: nil,
                                                      includes: [deployment.directory.file("nothing-here")])
        #expect(throws: ForensicsError.self) {
            try ConfigurationBackup.create(sources: sources, into: deployment.backups, nowMilliseconds: 0)
        }
        #expect(throws: ForensicsError.self, "an empty backup must be refused") {
            try ConfigurationBackup.create(sources: [], into: deployment.backups, nowMilliseconds: 0)
        }
    }

    private func permissions(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
    }
}
