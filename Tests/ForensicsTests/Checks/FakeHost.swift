import Foundation
import MTCrypto
@testable import Forensics

/// A machine built in a temporary folder for the checklist: a root with /etc, /proc,
/// /sys files, a proxy configuration, an event log, backups. Starts out passing every
/// item; each test breaks one thing.
final class FakeHost {
    let directory: TemporaryDirectory
    var root: String { directory.path + "/root" }
    var configPath: String { directory.file("mtproxy.yaml") }
    var eventsPath: String { directory.file("log/events.jsonl") }
    var backups: String { directory.file("backups") }
    let now = Date()
    var nftListing = FakeHost.passingRuleset
    var secretText: String
    /// The secret's `created:`; nil leaves the field out.
    lazy var secretCreated: Date? = now.addingTimeInterval(-10 * 86_400)

    static let passingRuleset = """
    table inet mtshield_filter {
    \tset proxy_new_v4 {
    \t\ttype ipv4_addr
    \t\tsize 65536
    \t\tflags dynamic,timeout
    \t\ttimeout 2m
    \t}

    \tchain input {
    \t\ttype filter hook input priority filter; policy drop;
    \t\tiif "lo" accept
    \t\tct state invalid drop
    \t\tct state established,related accept
    \t\ticmp type { destination-unreachable, echo-request, time-exceeded, parameter-problem } limit rate 10/second accept
    \t\ttcp dport ssh ct state new accept
    \t\ttcp dport 443 ct state new add @proxy_new_v4 { ip saddr limit rate over 60/minute burst 30 packets } counter packets 0 bytes 0 drop
    \t\ttcp dport 443 ct state new accept
    \t\ttcp dport 3001 counter packets 0 bytes 0 drop
    \t}
    }
    table inet mtshield {
    \tset net4 {
    \t\ttype ipv4_addr
    \t\tflags interval,timeout
    \t\telements = { 192.0.2.7 timeout 1h expires 59m59s944ms,
    \t\t\t     198.51.100.0/24 timeout 1h expires 59m0s }
    \t}

    \tchain input {
    \t\ttype filter hook input priority filter - 10; policy accept;
    \t\tip saddr @net4 drop
    \t}
    }

    """

    init() throws {
        directory = try TemporaryDirectory()
        secretText = "ee" + SecureRandom.bytes(16).hexString + Array("www.example.com".utf8).hexString
        try writeConfig()
        try directory.write("root/etc/passwd", """
            root:x:0:0:root:/root:/bin/bash
            admin:x:1000:1000:admin:/home/admin:/bin/bash
            mtproxy:x:999:999:mtshield MTProto proxy:/nonexistent:/usr/sbin/nologin

            """)
        try writeProcess(pid: 4242, uid: 999)
        try directory.write("log/events.jsonl", "{}\n")
        chmod(eventsPath, 0o640)
        chmod(directory.file("log"), 0o750)
        try directory.write("root/usr/sbin/logrotate", "#!/bin/sh\n")
        let shipped = try String(contentsOfFile: DeployFiles.path("logrotate/mtshield"), encoding: .utf8)
        try directory.write("root/etc/logrotate.d/mtshield",
                            shipped.replacingOccurrences(of: "/var/log/mtshield/", with: directory.file("log/")))
        try writeBackup(age: 3600)
    }

    func writeConfig(user: String? = "mtproxy", extra: String = "", stats: String = "127.0.0.1:3001",
                     events: String? = nil, listen: String = "[\"0.0.0.0:443\", \"[::]:443\"]", mode: mode_t = 0o640) throws {
        var text = "instance: test\nlisten: \(listen)\nsecrets:\n  - name: main\n    secret: \(secretText)\n"
        if let secretCreated { text += "    created: \(FakeHost.utc(secretCreated))\n" }
        text += "stats:\n  listen: \(stats)\nevents:\n  path: \(events ?? eventsPath)\n"
        if let user { text += "user: \(user)\n" }
        text += extra
        try directory.write("mtproxy.yaml", text)
        chmod(configPath, mode)
    }

    func writeProcess(pid: Int, uid: Int, name: String = "mtproxy") throws {
        try directory.write("root/proc/\(pid)/comm", name + "\n")
        try directory.write("root/proc/\(pid)/status", "Name:\t\(name)\nUid:\t\(uid)\t\(uid)\t\(uid)\t\(uid)\nNoNewPrivs:\t1\nCapBnd:\t0000000000000000\n")
    }

    /// `2026-01-31T12:00:00Z`.
    static func utc(_ date: Date) -> String {
        RFC3339.format(milliseconds: Int64(date.timeIntervalSince1970) * 1000).replacingOccurrences(of: ".000Z", with: "Z")
    }

    /// An archive `age` seconds old by its name, its sidecar and the `latest` link. Named
    /// as `make backup` names one: the second it was taken in, truncated, so by its name it
    /// is at least `age` old and less than a second more.
    @discardableResult
    func writeBackup(age: TimeInterval, mode: mode_t = 0o600) throws -> String {
        let taken = Int64(((now.timeIntervalSince1970 - age) * 1000).rounded(.down))
        let name = ConfigurationBackup.archiveName(milliseconds: taken)
        let bytes = SecureRandom.bytes(3000)
        let archive = try directory.write("backups/" + name, bytes)
        chmod(archive, mode)
        try directory.write("backups/\(name).sha256", "\(SHA256.hash(bytes).hexString)  \(name)\n")
        try? FileManager.default.removeItem(atPath: backups + "/latest")
        try FileManager.default.createSymbolicLink(atPath: backups + "/latest", withDestinationPath: name)
        return archive
    }

    func context(auditorConfig: String? = nil, statsTimeout: Duration = .seconds(3), now: Date? = nil) -> CheckContext {
        let listing = nftListing
        return CheckContext(proxyConfigPath: configPath, auditorConfigPath: auditorConfig, root: root, now: now ?? self.now,
                            runCommand: { argv in
                                argv == ["nft", "list", "ruleset"] ? CheckCommandOutput(exitStatus: 0, standardOutput: listing)
                                                                   : CheckCommandOutput(exitStatus: nil, standardOutput: "", standardError: "not faked")
                            },
                            backupDirectory: backups, statsTimeout: statsTimeout)
    }

    func outcome(_ id: String, _ context: CheckContext? = nil) -> CheckOutcome {
        let outcome = SecurityChecklist.run(ids: [id], context: context ?? self.context())[0]
        return outcome
    }
}

/// The shipped files under deploy/.
enum DeployFiles {
    static var packageRoot: String { ArtifactCatalogTests.packageRoot }
    static func path(_ name: String) -> String { packageRoot + "/deploy/" + name }
    static func text(_ name: String) throws -> String { try String(contentsOfFile: path(name), encoding: .utf8) }
}
