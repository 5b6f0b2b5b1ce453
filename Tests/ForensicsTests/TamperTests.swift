import Testing
import Foundation
import MTCrypto
@testable import Forensics

/// Damage an archive the ways evidence gets damaged, and check that verify fails, names
/// the file and says which layer in its exit status.
@Suite(.serialized) struct TamperTests {
    static let smallCatalog = """
    artifacts:
      - name: proxy-config
        kind: config
        config: proxy
        to: config/proxy.yaml
      - name: proxy-events
        kind: events
        from: proxy:events.path
        to: proxy/events.jsonl
      - name: blocklist
        kind: file
        from: proxy:blocklist
        to: proxy/blocklist.txt
    """

    /// A snapshot whose events (poorly compressible) are most of the archive, so damage in
    /// its middle is in the events.
    static func largeSnapshot(format: ArchiveFormat = .lz4) throws -> (FakeDeployment, SnapshotResult) {
        let deployment = try FakeDeployment(largeEvents: true)
        let result = try deployment.snapshot(format: format, catalog: smallCatalog)
        let events = try #require(result.manifest.entry(for: "proxy/events.jsonl"))
        #expect(events.size > 300_000)
        return (deployment, result)
    }

    @Test(arguments: [ArchiveFormat.lz4, .gzip])
    func aFlippedByteFailsNamingTheFile(format: ArchiveFormat) throws {
        let (deployment, result) = try Self.largeSnapshot(format: format)
        defer { withExtendedLifetime(deployment) {} }
        var bytes = try readBytes(result.archivePath)
        bytes[bytes.count / 2] ^= 0x10
        try Data(bytes).write(to: URL(fileURLWithPath: result.archivePath))
        let report = try ArchiveVerifier.verify(archivePath: result.archivePath)
        #expect(!report.isVerified)
        #expect(report.namedFiles.contains("proxy/events.jsonl"), "\(report.findings)")
        #expect(report.exitStatus & VerificationReport.Layer.sidecar.exitBit != 0)
        #expect(report.exitStatus & VerificationReport.Layer.file.exitBit != 0)
        #expect(report.filesVerified.contains("config/proxy.yaml"))
        if format == .lz4 {
            #expect(report.exitStatus & VerificationReport.Layer.container.exitBit != 0)
            #expect(try run(["lz4", "-t", result.archivePath]).status != 0)
        }
    }

    @Test(arguments: [ArchiveFormat.lz4, .gzip])
    func aTruncatedArchiveFailsNamingTheFile(format: ArchiveFormat) throws {
        let (deployment, result) = try Self.largeSnapshot(format: format)
        defer { withExtendedLifetime(deployment) {} }
        let bytes = try readBytes(result.archivePath)
        try Data(bytes.prefix(bytes.count * 3 / 5)).write(to: URL(fileURLWithPath: result.archivePath))
        let report = try ArchiveVerifier.verify(archivePath: result.archivePath)
        #expect(report.namedFiles.contains("proxy/events.jsonl"), "\(report.findings)")
        #expect(report.namedFiles.contains("proxy/blocklist.txt"))
        #expect(report.exitStatus & VerificationReport.Layer.container.exitBit != 0)
        #expect(report.exitStatus & VerificationReport.Layer.sidecar.exitBit != 0)
    }

    /// An edited file in an otherwise perfect archive: repacked, new frame, new sidecar.
    @Test func anEditedFileFailsNamingOnlyThatFile() throws {
        let deployment = try FakeDeployment()
        let result = try deployment.snapshot(catalog: Self.smallCatalog)
        let tar = try run(["lz4", "-dc", result.archivePath]).output
        var files = try readTar(tar).map { ($0.0.path, $0.1) }
        let index = try #require(files.firstIndex { $0.0 == "proxy/blocklist.txt" })
        files[index].1 = Array("192.0.2.200\n".utf8)
        let repacked = try makeTar(files)
        let sink = MemorySink()
        let frame = try LZ4FrameWriter(contentSize: UInt64(repacked.count), output: sink)
        try frame.write(repacked)
        try frame.finish()
        try Data(sink.bytes).write(to: URL(fileURLWithPath: result.archivePath))
        let name = (result.archivePath as NSString).lastPathComponent
        try Data("\(SHA256.hash(sink.bytes).hexString)  \(name)\n".utf8).write(to: URL(fileURLWithPath: result.sidecarPath))

        let report = try ArchiveVerifier.verify(archivePath: result.archivePath)
        #expect(report.findings.map(\.path) == ["proxy/blocklist.txt"], "\(report.findings)")
        #expect(report.exitStatus == VerificationReport.Layer.file.exitBit)
        #expect(try run(["lz4", "-t", result.archivePath]).status == 0)
    }

    @Test func anEditedSidecarOrAMissingOneFails() throws {
        let deployment = try FakeDeployment()
        let result = try deployment.snapshot(catalog: Self.smallCatalog)
        try Data((String(repeating: "0", count: 64) + "  x\n").utf8).write(to: URL(fileURLWithPath: result.sidecarPath))
        #expect(try ArchiveVerifier.verify(archivePath: result.archivePath).exitStatus == VerificationReport.Layer.sidecar.exitBit)
        try FileManager.default.removeItem(atPath: result.sidecarPath)
        #expect(try ArchiveVerifier.verify(archivePath: result.archivePath).exitStatus == VerificationReport.Layer.sidecar.exitBit)
    }

    @Test func aFileAddedToTheArchiveIsNamed() throws {
        let deployment = try FakeDeployment()
        let result = try deployment.snapshot(catalog: Self.smallCatalog)
        let tar = try run(["lz4", "-dc", result.archivePath]).output
        let files = try readTar(tar).map { ($0.0.path, $0.1) } + [("planted.txt", Array("x".utf8))]
        let repacked = try makeTar(files)
        let sink = MemorySink()
        let frame = try LZ4FrameWriter(contentSize: UInt64(repacked.count), output: sink)
        try frame.write(repacked)
        try frame.finish()
        try Data(sink.bytes).write(to: URL(fileURLWithPath: result.archivePath))
        let report = try ArchiveVerifier.verify(archivePath: result.archivePath)
        #expect(report.namedFiles == ["planted.txt"], "\(report.findings)")
    }

    @Test func extractWritesOnlyMatchingFilesAndNothingOutside() throws {
        let deployment = try FakeDeployment()
        let result = try deployment.snapshot(catalog: Self.smallCatalog)
        let target = deployment.directory.file("extract")
        let report = try ArchiveExtractor.extract(archivePath: result.archivePath, into: target)
        #expect(report.findings.isEmpty, "\(report.findings)")
        #expect(Set(report.extracted) == Set(result.manifest.files.map(\.path) + ["manifest.json"]))
        for entry in result.manifest.files {
            #expect(SHA256.hash(try readBytes(target + "/" + entry.path)).hexString == entry.sha256)
        }
        // Again into the same place: nothing is overwritten.
        let again = try ArchiveExtractor.extract(archivePath: result.archivePath, into: target, only: ["proxy/blocklist.txt"])
        #expect(again.extracted.isEmpty)
        #expect(again.findings.first?.message.contains("not overwritten") == true)
    }

    @Test func extractRefusesTraversalAndUnlistedEntries() throws {
        let directory = try TemporaryDirectory()
        let good = Array("fine\n".utf8)
        let manifest = EvidenceManifest(files: [.init(path: "a.txt", size: UInt64(good.count), sha256: SHA256.hash(good).hexString)])
        let tar = try makeTar([("manifest.json", manifest.encoded()), ("../evil.txt", Array("evil".utf8)),
                               ("/tmp/evil-absolute.txt", Array("evil".utf8)), ("a.txt", good)])
        let sink = MemorySink()
        let frame = try LZ4FrameWriter(contentSize: UInt64(tar.count), output: sink)
        try frame.write(tar)
        try frame.finish()
        let archive = try directory.write("bad.tar.lz4", sink.bytes)
        let target = directory.file("inside/deeper")
        try FileManager.default.createDirectory(atPath: directory.file("inside"), withIntermediateDirectories: true)
        let report = try ArchiveExtractor.extract(archivePath: archive, into: target)
        #expect(report.extracted == ["manifest.json", "a.txt"])
        #expect(Set(report.findings.compactMap(\.path)) == ["../evil.txt", "/tmp/evil-absolute.txt"])
        #expect(!FileManager.default.fileExists(atPath: directory.file("inside/evil.txt")))
        #expect(!FileManager.default.fileExists(atPath: "/tmp/evil-absolute.txt"))
    }

    @Test func extractRefusesASymlinkedDirectoryOnTheWay() throws {
        let directory = try TemporaryDirectory()
        let content = Array("x\n".utf8)
        let manifest = EvidenceManifest(files: [.init(path: "sub/x.txt", size: 2, sha256: SHA256.hash(content).hexString)])
        let tar = try makeTar([("manifest.json", manifest.encoded()), ("sub/x.txt", content)])
        let sink = MemorySink()
        let gzip = try GzipWriter(output: sink)
        try gzip.write(tar)
        try gzip.finish()
        let archive = try directory.write("a.tar.gz", sink.bytes)
        try FileManager.default.createDirectory(atPath: directory.file("target"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory.file("elsewhere"), withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: directory.file("target/sub"), withDestinationPath: directory.file("elsewhere"))
        #expect(throws: ForensicsError.self) {
            _ = try ArchiveExtractor.extract(archivePath: archive, into: directory.file("target"))
        }
        #expect(!FileManager.default.fileExists(atPath: directory.file("elsewhere/x.txt")))
    }

    @Test func listShowsEntriesWithManifestHashes() throws {
        let deployment = try FakeDeployment()
        let result = try deployment.snapshot(format: .gzip, catalog: Self.smallCatalog)
        let listing = try ArchiveLister.list(archivePath: result.archivePath)
        #expect(listing.format == .gzip)
        #expect(listing.damage == nil)
        #expect(listing.entries.map(\.path) == ["manifest.json"] + result.manifest.files.map(\.path))
        #expect(listing.entries.dropFirst().allSatisfy { $0.sha256 != nil })
    }
}

/// The executable itself: exit statuses a script can rely on.
@Suite(.serialized) struct CommandLineTests {
    static var binary: String {
        ArtifactCatalogTests.packageRoot + "/.build/debug/mtforensics"
    }

    @Test func snapshotThenVerifyThroughTheBinary() throws {
        let binary = Self.binary
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build the mtforensics product first")
        let deployment = try FakeDeployment()
        let catalog = try deployment.directory.write("catalog.yaml", TamperTests.smallCatalog)
        let snapshot = try run([binary, "snapshot", "--proxy-config", deployment.directory.file("etc/proxy.yaml"),
                                "--since", "30d", "--out", deployment.out, "--incident", "CLI-1", "--artifacts", catalog])
        #expect(snapshot.status == 0, "\(snapshot.error)")
        let lines = snapshot.text.split(separator: "\n").map(String.init)
        let archive = try #require(lines.first)
        #expect(lines.last == archive + ".sha256")
        let verify = try run([binary, "verify", archive])
        #expect(verify.status == 0, "\(verify.text)")
        let timeline = try run([binary, "timeline", "--archive", archive, "--format", "jsonl"])
        #expect(timeline.status == 0, "\(timeline.error)")
        #expect(timeline.text.contains("\"source\":\"proxy\""), "the archive's proxy/events.jsonl is read")
        for line in timeline.text.split(separator: "\n") {
            #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) is [String: Any], "\(line)")
        }

        var bytes = try readBytes(archive)
        bytes[bytes.count - 6] ^= 0xff
        try Data(bytes).write(to: URL(fileURLWithPath: archive))
        let failed = try run([binary, "verify", archive])
        #expect(failed.status != 0 && failed.status & 2 != 0 && failed.status & 4 != 0, "\(failed.status) \(failed.text)")
        #expect(failed.text.contains("FAILED"))

        #expect(try run([binary, "verify", deployment.directory.file("nonexistent.tar.lz4")]).status == 1)
        let noInput = try run([binary, "timeline"])
        #expect(noInput.status != 0 && noInput.error.contains("--archive"))
        let badFlag = try run([binary, "snapshot", "--since", "yesterday"])
        #expect(badFlag.status != 0 && badFlag.error.contains("--since"))
    }
}
