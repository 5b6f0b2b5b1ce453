import ConfigFile
import EventLog
import Foundation
import Logging
import MTCrypto
import Testing
@testable import Proxy

@Suite struct SecretRotationTests {
    static let oldKey = "00112233445566778899aabbccddeeff"
    static let now: Int64 = 1_780_000_000_000 // 2026-05-28T20:26:40Z

    static let file = """
    # The proxy of the tests.
    instance: t1
    listen: ["127.0.0.1:8443"]
    secrets:
      # the one clients use
      - name: main
        secret: dd\(oldKey)   # keep private
    stats:
      listen: 127.0.0.1:3001   # loopback only
    """

    // MARK: Decoding

    @Test func retiresAtAndGraceDecode() throws {
        let yaml = """
        secrets:
          - name: new
            secret: \(Self.oldKey)
            created: 2026-01-30T12:00:00Z
          - name: old
            retires_at: 2026-01-31T12:00:00Z
            secret: ffeeddccbbaa99887766554433221100
        rotation:
          grace: 2h
        """
        let configuration = try ProxyConfiguration.decode(yaml: yaml, file: "r.yaml")
        #expect(configuration.secrets[0].retiresAtMilliseconds == nil)
        #expect(configuration.secrets[1].retiresAtMilliseconds == RetirementTime.parse("2026-01-31T12:00:00Z"))
        #expect(configuration.secrets[0].createdMilliseconds == RetirementTime.parse("2026-01-30T12:00:00Z"))
        #expect(configuration.secrets[1].createdMilliseconds == nil)
        #expect(configuration.rotation.graceMilliseconds == 7_200_000)
        #expect(ProxyConfiguration().rotation.graceMilliseconds == 86_400_000)
    }

    @Test(arguments: [
        ("secrets:\n  - name: a\n    secret: \(oldKey)\n  - name: b\n    secret: ffeeddccbbaa99887766554433221100\n    retires_at: tomorrow\n",
         "r.yaml:6: secrets[1].retires_at: expected a UTC time such as 2026-01-31T12:00:00Z, found \"tomorrow\""),
        ("secrets:\n  - name: a\n    secret: \(oldKey)\n    retires_at: 2026-01-31T12:00:00+02:00\n",
         "r.yaml:4: secrets[0].retires_at: expected a UTC time such as 2026-01-31T12:00:00Z, found \"2026-01-31T12:00:00+02:00\""),
        ("secrets:\n  - name: a\n    secret: \(oldKey)\n    retires_at: 2026-01-31T12:00:00Z\n",
         "r.yaml:2: secrets: every secret has retires_at; at least one must stay in service (remove retires_at from one, or add a secret)"),
        ("secrets:\n  - name: a\n    secret: \(oldKey)\nrotation:\n  grace: 0s\n",
         "r.yaml:5: rotation.grace: "),
        ("secrets:\n  - name: a\n    secret: \(oldKey)\nrotation:\n  period: 1h\n",
         "r.yaml:5: rotation.period: "),
        ("secrets:\n  - name: a\n    secret: \(oldKey)\n    created: last spring\n",
         "r.yaml:4: secrets[0].created: expected a UTC time such as 2026-01-31T12:00:00Z, found \"last spring\""),
        ("secrets:\n  - name: a\n    secret: \(oldKey)\n    expires: 2026-01-31T12:00:00Z\n",
         "r.yaml:4: secrets[0].expires: "),
    ])
    func badRotationKeysNameFileLineAndKey(yaml: String, expected: String) {
        do {
            _ = try ProxyConfiguration.decode(yaml: yaml, file: "r.yaml")
            Issue.record("decoded: \(yaml)")
        } catch {
            #expect(error.description.hasPrefix(expected), "\(error.description)")
        }
    }

    @Test func retirementTimeReadsWhatItWrites() {
        var generator = SeededGenerator(seed: 7)
        for _ in 0..<2000 {
            let milliseconds = Int64.random(in: 0...253_402_300_799_000, using: &generator)
            #expect(RetirementTime.parse(RetirementTime.format(milliseconds: milliseconds)) == milliseconds)
        }
        #expect(RetirementTime.format(milliseconds: 1_769_860_800_000) == "2026-01-31T12:00:00Z")
        for bad in ["", "2026-01-31", "2026-02-30T00:00:00Z", "2026-01-31T24:00:00Z", "2026-01-31T12:00:00",
                    "2026-01-31 12:00:00Z", "2026-01-31T12:00:00.1Z", "x026-01-31T12:00:00Z", "2026-13-01T00:00:00Z"] {
            #expect(RetirementTime.parse(bad) == nil, "\(bad)")
        }
    }

    // MARK: In force

    @Test func retiredSecretsLeaveServiceAtTheirTime() throws {
        var configuration = ProxyConfiguration()
        var old = ProxySecret(name: "old", form: .classic, key: Array(repeating: 1, count: 16))
        old.retiresAtMilliseconds = 10_000
        configuration.secrets = [ProxySecret(name: "new", form: .classic, key: Array(repeating: 2, count: 16)), old]
        #expect(configuration.inForce(atMilliseconds: 9_999).secrets.map(\.name) == ["new", "old"])
        #expect(configuration.inForce(atMilliseconds: 10_000).secrets.map(\.name) == ["new"])
        #expect(configuration.nextRetirement(afterMilliseconds: 5_000) == 10_000)
        #expect(configuration.nextRetirement(afterMilliseconds: 10_000) == nil)
    }

    @Test func retirementAppliesOnceAndEmitsAnEvent() async throws {
        var configuration = ProxyConfiguration()
        var old = ProxySecret(name: "old", form: .classic, key: Array(repeating: 1, count: 16))
        old.retiresAtMilliseconds = 10_000
        configuration.secrets = [ProxySecret(name: "new", form: .classic, key: Array(repeating: 2, count: 16)), old]
        let clock = TestClock(5_000)
        let applied = AppliedConfigurations()
        let events = RecordingEventSink()
        let fixed = configuration
        let retirement = SecretRetirement(configuration: { fixed }, events: events, logger: Logger(label: "test"),
                                          now: { clock.value }, apply: { applied.append($0.inForce(atMilliseconds: clock.value)) })
        #expect(await retirement.retireDue().isEmpty)
        clock.value = 10_000
        #expect(await retirement.retireDue().map(\.name) == ["old"])
        #expect(await retirement.retireDue().isEmpty)
        #expect(applied.all.map { $0.secrets.map(\.name) } == [["new"]])
        #expect(events.actions() == ["secret.retired"])
        #expect(events.first(.secretRetired)?.secretName == "old")
    }

    // MARK: Rotate

    @Test func rotateKeepsCommentsAndRenamesTheOldSecret() throws {
        let replacement = [UInt8](hex: "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf")!
        let rotated = try SecretRotation.rotate(text: Self.file, file: "p.yaml", name: nil, grace: 3_600_000,
                                                nowMilliseconds: Self.now, replacement: replacement)
        #expect(rotated.secret.name == "main")
        #expect(rotated.secret.form == .secure)
        #expect(rotated.retiring.name == "main.retiring-20260528-202640")
        #expect(rotated.text == """
        # The proxy of the tests.
        instance: t1
        listen: ["127.0.0.1:8443"]
        secrets:
          # the one clients use
          - name: main
            secret: dda0a1a2a3a4a5a6a7a8a9aaabacadaeaf
            created: 2026-05-28T20:26:40Z
          - name: main.retiring-20260528-202640
            retires_at: 2026-05-28T21:26:40Z
            secret: dd\(Self.oldKey)   # keep private
        stats:
          listen: 127.0.0.1:3001   # loopback only
        """)
        let configuration = try ProxyConfiguration.decode(yaml: rotated.text, file: "p.yaml")
        #expect(configuration.secrets.map(\.name) == ["main", "main.retiring-20260528-202640"])
        #expect(configuration.secrets[1].retiresAtMilliseconds == Self.now + 3_600_000)
        #expect(configuration.secrets[0].createdMilliseconds == Self.now)
        #expect(configuration.secrets[1].createdMilliseconds == nil)
    }

    @Test func aSecondRotationRemovesExpiredEntriesAndUsesTheConfiguredGrace() throws {
        let first = try SecretRotation.rotate(text: Self.file + "\nrotation:\n  grace: 10m\n", file: "p.yaml", name: "main",
                                              grace: nil, nowMilliseconds: Self.now)
        #expect(first.retiring.retiresAtMilliseconds == Self.now + 600_000)
        let later = Self.now + 700_000
        let second = try SecretRotation.rotate(text: first.text, file: "p.yaml", name: nil, grace: nil, nowMilliseconds: later)
        #expect(second.removed == [first.retiring.name])
        let configuration = try ProxyConfiguration.decode(yaml: second.text, file: "p.yaml")
        #expect(configuration.secrets.map(\.name) == ["main", second.retiring.name])
        #expect(configuration.secrets[1].key == first.secret.key)
        #expect(second.text.contains("# keep private") == false) // went with the expired entry
        #expect(second.text.contains("stats:\n  listen: 127.0.0.1:3001   # loopback only"))

        let pruned = try SecretRotation.prune(text: second.text, file: "p.yaml", nowMilliseconds: later + 86_400_001)
        #expect(pruned.removed == [second.retiring.name])
        #expect(try ProxyConfiguration.decode(yaml: pruned.text, file: "p.yaml").secrets.map(\.name) == ["main"])
    }

    @Test func rotateRefusesWhatItCannotEditOrChoose() throws {
        let flow = "secrets:\n  - {name: main, secret: \(Self.oldKey)}\n"
        #expect(throws: ConfigError.self) {
            try SecretRotation.rotate(text: flow, file: "p.yaml", name: nil, grace: nil, nowMilliseconds: Self.now)
        }
        let two = "secrets:\n  - name: a\n    secret: \(Self.oldKey)\n  - name: b\n    secret: ffeeddccbbaa99887766554433221100\n"
        do {
            _ = try SecretRotation.rotate(text: two, file: "p.yaml", name: nil, grace: nil, nowMilliseconds: Self.now)
            Issue.record("rotated without --name")
        } catch {
            #expect(error.message.contains("name the one to rotate with --name"))
        }
        #expect(throws: ConfigError.self) {
            try SecretRotation.rotate(text: two, file: "p.yaml", name: "c", grace: nil, nowMilliseconds: Self.now)
        }
        let rotated = try SecretRotation.rotate(text: two, file: "p.yaml", name: "b", grace: nil, nowMilliseconds: Self.now)
        #expect(throws: ConfigError.self) {
            try SecretRotation.rotate(text: rotated.text, file: "p.yaml", name: rotated.retiring.name, grace: nil,
                                      nowMilliseconds: Self.now + 1000)
        }
    }

    @Test func quotedKeysAsGeneratedYAMLWritesThem() throws {
        let yaml = "\"secrets\":\n  - \"name\": \"main\"\n    \"secret\": \"\(Self.oldKey)\"\n\"allow_root\": true\n"
        let rotated = try SecretRotation.rotate(text: yaml, file: "p.yaml", name: nil, grace: 2000, nowMilliseconds: Self.now)
        let configuration = try ProxyConfiguration.decode(yaml: rotated.text, file: "p.yaml")
        #expect(configuration.secrets.count == 2)
        #expect(configuration.allowRoot)
    }

    /// Random block-style layouts (indentation, key order, comments) rotate to a file that
    /// decodes to exactly the expected secrets, or are refused; never a wrong file.
    @Test func rotationOfRandomLayoutsIsExactOrRefused() throws {
        var generator = SeededGenerator(seed: 11)
        for round in 0..<100 {
            let indent = String(repeating: " ", count: Int.random(in: 0...4, using: &generator))
            let gap = String(repeating: " ", count: Int.random(in: 1...3, using: &generator))
            let count = Int.random(in: 1...3, using: &generator)
            var text = "# round \(round)\nsecrets:\n"
            var keys: [String] = []
            for index in 0..<count {
                let key = (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
                keys.append(key)
                let nameFirst = Bool.random(using: &generator)
                let first = nameFirst ? "name: s\(index)" : "secret: \(key)"
                let second = nameFirst ? "secret: \(key)" : "name: s\(index)"
                text += "\(indent)-\(gap)\(first)\n"
                if Bool.random(using: &generator) { text += "\(indent) \(gap)# comment \(index)\n" }
                text += "\(indent) \(gap)\(second)\n"
            }
            text += Bool.random(using: &generator) ? "allow_root: true\n" : ""
            let target = Int.random(in: 0..<count, using: &generator)
            let rotated = try SecretRotation.rotate(text: text, file: "p.yaml", name: "s\(target)", grace: 1000,
                                                    nowMilliseconds: Self.now)
            let configuration = try ProxyConfiguration.decode(yaml: rotated.text, file: "p.yaml")
            #expect(configuration.secrets.count == count + 1)
            #expect(configuration.secrets.filter { $0.retiresAtMilliseconds != nil }.map(\.key.hexString) == [keys[target]])
            #expect(configuration.secrets.first { $0.name == "s\(target)" }?.key == rotated.secret.key)
        }
    }

    // MARK: Reload

    @Test func reloadNamesTheRotation() {
        var before = ProxyConfiguration()
        before.secrets = [ProxySecret(name: "main", form: .classic, key: Array(repeating: 1, count: 16))]
        var after = before
        var retiring = before.secrets[0]
        retiring.name = "main.retiring-x"
        retiring.retiresAtMilliseconds = 5
        after.secrets = [ProxySecret(name: "main", form: .classic, key: Array(repeating: 2, count: 16)), retiring]
        let rotations = ConfigurationReloader<AsyncStream<Void>>.rotations(from: before, to: after)
        #expect(rotations.map(\.secret.name) == ["main"])
        #expect(rotations.map(\.retiring.name) == ["main.retiring-x"])
        #expect(ConfigurationReloader<AsyncStream<Void>>.rotations(from: after, to: after).isEmpty)
    }

    @Test func replacingAFileKeepsItsModeAndLeavesNoTemporary() throws {
        let directory = NSTemporaryDirectory() + "rotation-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/p.yaml"
        try Self.file.write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, 0o640)
        try ConfigurationFile.replace(path: path, with: "new text\n")
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "new text\n")
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o640)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["p.yaml"])
    }
}

private final class TestClock: @unchecked Sendable {
    var value: Int64
    init(_ value: Int64) { self.value = value }
}

private final class AppliedConfigurations: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [ProxyConfiguration] = []
    func append(_ configuration: ProxyConfiguration) { lock.withLock { stored.append(configuration) } }
    var all: [ProxyConfiguration] { lock.withLock { stored } }
}
