import Testing
import Foundation
import MTCrypto
@testable import Forensics

/// A fake deployment in a temporary directory: proxy and auditor configurations with
/// secrets, events in and out of the window, a blocklist, a binary decisions store, reports.
final class FakeDeployment {
    static let eeSecret = "ee0f1e2d3c4b5a69788796a5b4c3d2e1f07777772e6578616d706c652e636f6d"
    static let ddSecret = "dd8899aabbccddeeff00112233445566ff"
    static let databasePassword = "correct-horse-battery"
    static let clientAddresses = ["203.0.113.7", "198.51.100.23", "2001:db8:0:1::42"]
    /// Every text form of every secret; none may appear in any archive.
    static var secretForms: [String] {
        var forms = [databasePassword]
        for secret in [eeSecret, ddSecret] {
            let bytes = [UInt8](hex: secret)!
            let key = Array(bytes[1..<17])
            forms += [secret, secret.uppercased(), key.hexString, key.hexString.uppercased()]
            for value in [bytes, key] {
                forms += [Base64.encode(value, urlSafe: false, padded: false), Base64.encode(value, urlSafe: true, padded: false)]
            }
        }
        return forms
    }

    let directory: TemporaryDirectory
    let now: Int64 = 1_795_560_966_000
    let out: String

    init(largeEvents: Bool = false) throws {
        directory = try TemporaryDirectory()
        out = directory.file("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try directory.write("etc/proxy.yaml", """
        instance: vps1
        secrets:
          - name: main
            secret: \(Self.eeSecret)
          - name: old
            secret: "\(Self.ddSecret)"
        blocklist: ../var/blocklist.txt
        events:
          path: ../var/events.jsonl
          privacy: full
        """)
        try directory.write("etc/auditor.yaml", """
        sources: [../var/events.jsonl]
        state: ../var/auditor.sqlite
        store:
          dsn: postgres://auditor:\(Self.databasePassword)@db.internal/mtshield
        reports: ../var/reports
        """)
        let inWindow = RFC3339.format(milliseconds: now - 60_000)
        let outside = RFC3339.format(milliseconds: now - 3 * 86_400_000)
        var events = """
        {"@timestamp":"\(inWindow)","event.action":"handshake.failed","event.reason":"bad_secret","source.ip":"203.0.113.7","source.port":50123}
        {"@timestamp":"\(inWindow)","event.action":"connection.accepted","source.ip":"2001:db8:0:1::42","mt.secret":"main"}
        {"@timestamp":"\(inWindow)","event.action":"leak","message":"secret=\(Self.eeSecret) key=\(Self.ddSecret.dropFirst(2).uppercased())"}
        {"@timestamp":"\(outside)","event.action":"connection.rejected","source.ip":"198.51.100.99"}

        """
        if largeEvents {
            var generator = SeededGenerator(seed: 99)
            var lines: [String] = []
            for index in 0..<3_000 {
                let noise = [UInt8].random(40, using: &generator).hexString
                lines.append(#"{"@timestamp":"\#(inWindow)","event.action":"session.closed","session.id":"\#(noise)","labels.n":"\#(index)"}"#)
            }
            events += lines.joined(separator: "\n") + "\n"
        }
        try directory.write("var/events.jsonl", events)
        try directory.write("var/blocklist.txt", "203.0.113.7\n198.51.100.0/24\n")
        try directory.write("var/auditor.sqlite", [0x53, 0x51, 0x4c, 0, 0, 1, 2, 3] + Array("203.0.113.7".utf8) + [0, 9])
        try directory.write("var/reports/recent.json", #"{"decisions":[{"value":"198.51.100.23"}]}"#)
        let old = try directory.write("var/reports/old.json", #"{"decisions":[]}"#)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: Double(now) / 1000 - 10 * 86_400)],
                                              ofItemAtPath: old)
        // A previous snapshot in the output directory: never collected again.
        try directory.write("out/mtshield-evidence-earlier.tar.lz4", "earlier archive")
    }

    static let catalogText = """
    artifacts:
      - name: proxy-config
        kind: config
        config: proxy
        to: config/proxy.yaml
      - name: auditor-config
        kind: config
        config: auditor
        to: config/auditor.yaml
      - name: proxy-events
        kind: events
        from: proxy:events.path
        to: proxy/events.jsonl
      - name: blocklist
        kind: file
        from: proxy:blocklist
        to: proxy/blocklist.txt
      - name: auditor-decisions
        kind: file
        from: auditor:state
        to: auditor/decisions.sqlite
      - name: auditor-reports
        kind: directory
        from: auditor:reports
        window: true
        to: auditor/reports
      - name: missing-file
        kind: file
        path: /nonexistent/mtshield/file
        to: missing.txt
      - name: process-line
        kind: command
        run: [sh, -c, "echo mtproxy run --secret \(eeSecret) --peer 198.51.100.23:443"]
      - name: failing
        kind: command
        run: [sh, -c, "echo partial; echo oops >&2; exit 3"]
      - name: slow
        kind: command
        run: [sh, -c, "echo started; exec sleep 5"]
        timeout: 300ms
      - name: no-such-tool
        kind: command
        run: [mtshield-no-such-tool, --version]
      - name: empty-output
        kind: command
        run: ["true"]
    """

    func request(format: ArchiveFormat = .lz4, redact: Bool = false, budget: UInt64 = 1 << 30,
                 catalog: String = FakeDeployment.catalogText) throws -> SnapshotRequest {
        SnapshotRequest(proxyConfigurationPath: directory.file("etc/proxy.yaml"),
                        auditorConfigurationPath: directory.file("etc/auditor.yaml"),
                        sinceMilliseconds: now - 86_400_000, untilMilliseconds: now,
                        outputDirectory: out, incident: "INC-42", operatorName: "tester", host: "testhost",
                        redactAddresses: redact, format: format,
                        catalog: try ArtifactCatalog.parse(yaml: catalog, file: "catalog.yaml"),
                        byteBudget: budget, commandTimeout: .seconds(5),
                        commandLine: ["mtforensics", "snapshot", "--note", Self.eeSecret])
    }

    func snapshot(format: ArchiveFormat = .lz4, redact: Bool = false, budget: UInt64 = 1 << 30,
                  catalog: String = FakeDeployment.catalogText) throws -> SnapshotResult {
        let clock = CustodyRecord.Clock(utc: RFC3339.format(milliseconds: now), source: "test clock",
                                        kernelClocksource: nil, synchronized: nil)
        return try EvidenceSnapshot(request: try request(format: format, redact: redact, budget: budget, catalog: catalog),
                                    clock: clock).run()
    }

    /// Extracts with the real tools into a fresh directory and returns it.
    func extractWithTools(_ archive: String, format: ArchiveFormat) throws -> String {
        let target = directory.file("extracted-\(SecureRandom.bytes(4).hexString)")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
        let command = format == .lz4 ? "lz4 -dc '\(archive)' | tar -x -C '\(target)'" : "tar -xzf '\(archive)' -C '\(target)'"
        let result = try shell("set -o pipefail; " + command)
        #expect(result.status == 0, "\(result.error)")
        return target
    }
}

@Suite(.serialized) struct SnapshotTests {
    @Test(arguments: [ArchiveFormat.lz4, .gzip])
    func archivePassesTheRealToolsAndEveryManifestHash(format: ArchiveFormat) throws {
        let deployment = try FakeDeployment()
        let result = try deployment.snapshot(format: format)
        #expect(result.archivePath.hasSuffix(format.fileExtension))
        #expect(result.archivePath.contains("mtshield-evidence-INC-42-testhost-"))

        let outDirectory = deployment.out
        let name = (result.archivePath as NSString).lastPathComponent
        if format == .lz4 {
            let test = try run(["lz4", "-t", result.archivePath])
            #expect(test.status == 0, "\(test.error)")
        } else {
            let listing = try run(["tar", "-tzf", result.archivePath])
            #expect(listing.status == 0)
            #expect(listing.text.split(separator: "\n").first == "manifest.json")
        }
        let check = try run(["sha256sum", "-c", name + ".sha256"], directory: outDirectory)
        #expect(check.status == 0, "\(check.text) \(check.error)")
        #expect(check.text.contains("\(name): OK"))

        for path in [result.archivePath, result.sidecarPath] {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: outDirectory).filter { $0.hasPrefix(".") }
        #expect(leftovers.isEmpty, "\(leftovers)")

        let extracted = try deployment.extractWithTools(result.archivePath, format: format)
        let manifest = try EvidenceManifest.decode(try readBytes(extracted + "/manifest.json"))
        #expect(manifest == result.manifest)
        var listed = Set<String>()
        for entry in manifest.files {
            let bytes = try readBytes(extracted + "/" + entry.path)
            #expect(UInt64(bytes.count) == entry.size, "\(entry.path)")
            #expect(SHA256.hash(bytes).hexString == entry.sha256, "\(entry.path)")
            listed.insert(entry.path)
        }
        let all = try FileManager.default.subpathsOfDirectory(atPath: extracted).filter {
            var isDirectory: ObjCBool = false
            _ = FileManager.default.fileExists(atPath: extracted + "/" + $0, isDirectory: &isDirectory)
            return !isDirectory.boolValue
        }
        #expect(Set(all) == listed.union(["manifest.json"]))

        let report = try ArchiveVerifier.verify(archivePath: result.archivePath)
        #expect(report.isVerified, "\(report.findings)")
        #expect(report.exitStatus == 0)
        #expect(report.filesVerified.count == manifest.files.count)
    }

    @Test func outcomesSayWhatBecameOfEachArtifact() throws {
        let deployment = try FakeDeployment()
        let result = try deployment.snapshot()
        let outcomes = Dictionary(uniqueKeysWithValues: result.custody.artifacts.map { ($0.name, $0) })
        #expect(outcomes["proxy-config"]?.status == .collected)
        #expect(outcomes["auditor-config"]?.status == .collected)
        #expect(outcomes["proxy-events"]?.status == .collected)
        #expect(outcomes["proxy-events"]?.linesOutsideWindow == 1)
        #expect(outcomes["blocklist"]?.status == .collected)
        #expect(outcomes["auditor-decisions"]?.status == .collected)
        #expect(outcomes["auditor-reports"]?.status == .collected)
        #expect(outcomes["missing-file"]?.status == .missing)
        #expect(outcomes["no-such-tool"]?.status == .missing)
        #expect(outcomes["no-such-tool"]?.error?.contains("command not found") == true)
        #expect(outcomes["failing"]?.status == .failed)
        #expect(outcomes["failing"]?.error == "exit status 3: oops")
        #expect(outcomes["failing"]?.archivePath == "system/failing.txt")
        #expect(outcomes["slow"]?.status == .failed)
        #expect(outcomes["slow"]?.error?.contains("timed out after 300ms") == true)
        #expect(outcomes["empty-output"]?.status == .empty)
        #expect(outcomes["process-line"]?.status == .collected)

        let paths = Set(result.manifest.files.map(\.path))
        #expect(paths.contains("auditor/reports/recent.json"))
        #expect(!paths.contains("auditor/reports/old.json"))
        #expect(result.custody.incident == "INC-42")
        #expect(result.custody.operator == "tester")
        #expect(result.custody.host == "testhost")
        #expect(result.custody.window.until == RFC3339.format(milliseconds: deployment.now))
        #expect(result.custody.redaction.secretCount == 3)
        #expect(result.custody.tool.version == ForensicsLibrary.version)
    }

    /// No secret, in any form, anywhere: not in the extracted files, not in the raw tar stream.
    @Test(arguments: [false, true])
    func noSecretAnywhereInTheArchive(redact: Bool) throws {
        let deployment = try FakeDeployment()
        let result = try deployment.snapshot(redact: redact)
        let extracted = try deployment.extractWithTools(result.archivePath, format: .lz4)
        let tar = try run(["lz4", "-dc", result.archivePath]).output
        let tarText = String(decoding: tar, as: UTF8.self).lowercased()
        for form in FakeDeployment.secretForms {
            #expect(!tarText.contains(form.lowercased()), "\(form) in the archive")
            let grep = try run(["grep", "-r", "-i", "-F", "-l", form, extracted])
            #expect(grep.status == 1, "\(form) found in \(grep.text)")
        }
        let config = try String(contentsOfFile: extracted + "/config/proxy.yaml", encoding: .utf8)
        var inventory = SecretInventory()
        #expect(config.contains(inventory.add(FakeDeployment.eeSecret)))
        #expect(config.contains("name: main"))
        let processLine = try String(contentsOfFile: extracted + "/system/process-line.txt", encoding: .utf8)
        #expect(processLine.contains(SecretInventory.fingerprintPrefix))
    }

    @Test func redactReplacesEveryClientAddressWithOnePseudonym() throws {
        let deployment = try FakeDeployment()
        let result = try deployment.snapshot(redact: true)
        let extracted = try deployment.extractWithTools(result.archivePath, format: .lz4)
        for address in FakeDeployment.clientAddresses {
            let grep = try run(["grep", "-r", "-F", "-l", address, extracted])
            #expect(grep.status == 1, "\(address) found in \(grep.text)")
        }
        let events = try String(contentsOfFile: extracted + "/proxy/events.jsonl", encoding: .utf8)
        let blocklist = try String(contentsOfFile: extracted + "/proxy/blocklist.txt", encoding: .utf8)
        let pseudonym = try #require(blocklist.split(separator: "\n").first.map(String.init))
        #expect(pseudonym.hasPrefix("ip4-"))
        #expect(events.contains("\"source.ip\":\"\(pseudonym)\""))
        #expect(events.contains("\"source.ip\":\"ip6-"))
        let outcomes = Dictionary(uniqueKeysWithValues: result.custody.artifacts.map { ($0.name, $0) })
        #expect(outcomes["auditor-decisions"]?.status == .failed)
        #expect(outcomes["auditor-decisions"]?.error?.contains("binary") == true)
        #expect(result.custody.redaction.addresses.contains("pseudonyms"))
        #expect(try ArchiveVerifier.verify(archivePath: result.archivePath).isVerified)
    }

    @Test func byteBudgetCutsAndSaysSo() throws {
        let deployment = try FakeDeployment()
        let result = try deployment.snapshot(budget: 700)
        let outcomes = result.custody.artifacts
        #expect(outcomes.contains { $0.truncated == true && $0.status == .failed })
        #expect(outcomes.contains { $0.error?.contains("used up before this artifact") == true })
        let total = result.manifest.files.filter { $0.path != CustodyRecord.fileName }.reduce(UInt64(0)) { $0 + $1.size }
        #expect(total == 700)
        #expect(try ArchiveVerifier.verify(archivePath: result.archivePath).isVerified)
    }

    @Test func ownOutputIsNeverCollected() throws {
        let deployment = try FakeDeployment()
        let catalog = """
        artifacts:
          - name: output-directory
            kind: directory
            path: \(deployment.out)
            to: out
          - name: earlier
            kind: file
            path: \(deployment.out)/mtshield-evidence-earlier.tar.lz4
            to: earlier.bin
        """
        let result = try deployment.snapshot(catalog: catalog)
        #expect(!result.manifest.files.contains { $0.path.hasPrefix("out/") || $0.path == "earlier.bin" })
        #expect(result.custody.artifacts.allSatisfy { $0.status != .collected })
        #expect(result.custody.artifacts[1].error?.contains("own output") == true)
    }

    @Test func aFailedPackLeavesNoArchive() throws {
        let deployment = try FakeDeployment()
        let writer = EvidenceArchiveWriter(format: .lz4, modificationTime: 0)
        let members = [EvidenceArchiveWriter.Member(path: "a", contents: [1], size: 1),
                       EvidenceArchiveWriter.Member(path: "b", stagingPath: deployment.directory.file("vanished"), size: 10)]
        #expect(throws: ForensicsError.self) {
            _ = try writer.write(members: members, to: deployment.out + "/mtshield-evidence-x.tar.lz4")
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: deployment.out)
        #expect(left == ["mtshield-evidence-earlier.tar.lz4"], "\(left)")
    }

    @Test func anExistingArchiveIsNeverOverwritten() throws {
        let deployment = try FakeDeployment()
        try deployment.directory.write("out/mtshield-evidence-y.tar.lz4", "x")
        let writer = EvidenceArchiveWriter(format: .lz4, modificationTime: 0)
        #expect(throws: ForensicsError.self) {
            _ = try writer.write(members: [.init(path: "a", contents: [1], size: 1)], to: deployment.out + "/mtshield-evidence-y.tar.lz4")
        }
        #expect(try readBytes(deployment.out + "/mtshield-evidence-y.tar.lz4") == Array("x".utf8))
    }
}

@Suite struct RotatedEventsTests {
    @Test func rotationsInTheWindowAreCollectedAndGzipOnesDecompressed() throws {
        let deployment = try FakeDeployment()
        let inWindow = RFC3339.format(milliseconds: deployment.now - 3_600_000)
        let line = #"{"@timestamp":"\#(inWindow)","event.action":"handshake.failed","source.ip":"203.0.113.9"}"# + "\n"
        try deployment.directory.write("var/events.jsonl.1", "rotated once " + line)
        try deployment.directory.write("var/events.jsonl.2", "rotated twice " + line)
        #expect(try shell("gzip var/events.jsonl.2", directory: deployment.directory.path).status == 0)
        let old = try deployment.directory.write("var/events.jsonl.3", line)
        try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: Double(deployment.now) / 1000 - 5 * 86_400)],
                                              ofItemAtPath: old)
        let result = try deployment.snapshot(catalog: TamperTests.smallCatalog)
        let paths = Set(result.manifest.files.map(\.path))
        #expect(paths.isSuperset(of: ["proxy/events.jsonl", "proxy/events.jsonl.1", "proxy/events.jsonl.2"]))
        #expect(!paths.contains("proxy/events.jsonl.3"))
        let outcome = try #require(result.custody.artifacts.first { $0.name == "proxy-events" })
        #expect(outcome.status == .collected, "\(outcome)")
        let extracted = try deployment.extractWithTools(result.archivePath, format: .lz4)
        #expect(try String(contentsOfFile: extracted + "/proxy/events.jsonl.2", encoding: .utf8) == "rotated twice " + line)
        #expect(try ArchiveVerifier.verify(archivePath: result.archivePath).isVerified)
    }
}
