import Foundation
import MTCrypto
import Testing
@testable import Forensics

/// Every checklist item on a machine built to pass and on ones built to fail.
@Suite struct SecurityChecklistTests {
    @Test func everyItemPassesOnAWellKeptHost() throws {
        let host = try FakeHost()
        let server = try OneAnswerServer(response: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        try host.writeConfig(stats: "127.0.0.1:\(server.port)")
        let outcomes = SecurityChecklist.run(context: host.context())
        #expect(outcomes.map(\.id) == SecurityChecklist.items.map(\.id))
        for outcome in outcomes {
            #expect(outcome.status == .pass, "\(outcome.id): \(outcome.detail)")
            #expect(outcome.fix == nil)
        }
    }

    @Test func idsAreStableAndUnknownIdsSaySo() {
        #expect(SecurityChecklist.items.map(\.id) == [
            "non_root_user", "firewall", "secret_strength", "secret_age", "stats_loopback",
            "logging_enabled", "log_rotation", "monitoring_reachable", "backup_recent", "container_hardening",
        ])
        let outcomes = SecurityChecklist.run(ids: ["stats_loopback", "no_such_item"], context: CheckContext(root: "/nonexistent"))
        #expect(outcomes.map(\.id) == ["stats_loopback", "no_such_item"])
        #expect(outcomes.allSatisfy { $0.status == .unknown })
        #expect(outcomes[1].detail.contains("no such check item"))
    }

    // MARK: non_root_user

    @Test func serviceUserPassesForADedicatedAccount() throws {
        let outcome = try FakeHost().outcome("non_root_user")
        #expect(outcome.status == .pass)
        #expect(outcome.detail.contains("mtproxy (pid 4242) runs as mtproxy (uid 999)"))
    }

    @Test(arguments: ["process-root", "config-root", "login-shell", "missing-user", "allow-root"])
    func serviceUserFails(_ setup: String) throws {
        let host = try FakeHost()
        switch setup {
        case "process-root": try host.writeProcess(pid: 4242, uid: 0)
        case "config-root": try host.writeConfig(user: "root")
        case "login-shell": try host.writeConfig(user: "admin")
        case "missing-user": try host.writeConfig(user: "nobody-here")
        default: try host.writeConfig(user: nil, extra: "allow_root: true\n")
        }
        let outcome = host.outcome("non_root_user")
        #expect(outcome.status == .fail, "\(setup): \(outcome.detail)")
        #expect(outcome.fix != nil)
    }

    @Test func serviceUserIsUnknownWithNoUserAndNoProcess() throws {
        let host = try FakeHost()
        try FileManager.default.removeItem(atPath: host.root + "/proc/4242")
        try host.writeConfig(user: nil)
        #expect(host.outcome("non_root_user").status == .unknown)
    }

    // MARK: firewall

    @Test func firewallPassesOnTheDeployRuleset() throws {
        let outcome = try FakeHost().outcome("firewall")
        #expect(outcome.status == .pass, "\(outcome.detail)")
        #expect(outcome.detail.contains("tcp/22, tcp/443"))
    }

    @Test(arguments: [
        ("policy drop;", "policy accept;", "accepted by default"),
        ("tcp dport 3001 counter packets 0 bytes 0 drop", "tcp dport 3001 accept", "stats port 3001 is open"),
        ("tcp dport 443 ct state new accept", "tcp dport { 443, 8080 } ct state new accept", "tcp/8080 is open but not needed"),
        ("tcp dport 443 ct state new accept", "tcp dport 8443 ct state new accept", "port 443 is not open"),
        ("ct state invalid drop", "ct state new,established accept", "accepts every source"),
        ("ct state invalid drop", "udp dport 1000-2000 accept", "udp/1000-2000 is open"),
    ])
    func firewallFails(replacing: String, with: String, expected: String) throws {
        let host = try FakeHost()
        #expect(host.nftListing.contains(replacing))
        host.nftListing = host.nftListing.replacingOccurrences(of: replacing, with: with)
        let outcome = host.outcome("firewall")
        #expect(outcome.status == .fail)
        #expect(outcome.detail.contains(expected), "\(outcome.detail)")
    }

    @Test func firewallFailsWithNoRulesetAndForAnIPv4OnlyTable() throws {
        let host = try FakeHost()
        host.nftListing = ""
        #expect(host.outcome("firewall").detail.contains("no nftables input chain"))
        host.nftListing = FakeHost.passingRuleset.replacingOccurrences(of: "table inet mtshield_filter", with: "table ip mtshield_filter")
        let outcome = host.outcome("firewall")
        #expect(outcome.status == .fail)
        #expect(outcome.detail.contains("inbound IPv6 is accepted by default"))
    }

    @Test func firewallWantsTheAuditorsTable() throws {
        let host = try FakeHost()
        let auditor = try host.directory.write("auditor.yaml", "sources: [/x]\nblockers:\n  - nftables: { table: mtshield }\n")
        #expect(host.outcome("firewall", host.context(auditorConfig: auditor)).status == .pass)
        let other = try host.directory.write("auditor2.yaml", "blockers:\n  - nftables: { table: elsewhere }\n")
        let outcome = host.outcome("firewall", host.context(auditorConfig: other))
        #expect(outcome.status == .fail)
        #expect(outcome.detail.contains("inet elsewhere is not loaded"))
    }

    @Test func firewallIsUnknownWhenNftCannotRun() throws {
        let host = try FakeHost()
        var context = host.context()
        context.runCommand = { _ in CheckCommandOutput(exitStatus: nil, standardOutput: "", standardError: "nft: not installed") }
        #expect(host.outcome("firewall", context).status == .unknown)
        context.runCommand = { _ in CheckCommandOutput(exitStatus: 1, standardOutput: "", standardError: "Operation not permitted") }
        #expect(host.outcome("firewall", context).status == .unknown)
    }

    // MARK: secrets

    @Test func secretStrengthPassesForRandomKeysInEveryForm() throws {
        let host = try FakeHost()
        for text in [SecureRandom.bytes(16).hexString, "dd" + SecureRandom.bytes(16).hexString, host.secretText] {
            host.secretText = text
            try host.writeConfig()
            let outcome = host.outcome("secret_strength")
            #expect(outcome.status == .pass, "\(outcome.detail)")
        }
    }

    @Test(arguments: [
        ("ee00112233445566778899aabbccddeeff7777772e6578616d706c652e636f6d", "counting sequence"),
        ("dd" + String(repeating: "ab", count: 16), "one repeated byte"),
        (String(repeating: "deadbeef", count: 4), "repeats a 4-byte pattern"),
        (Array("correct horse ba".utf8).hexString, "printable text"),
        ("0102030405060708090a0b0c0d0e0f", "not a 16-byte key"),
        ("0102030405060708090a0b0c0d0e0f1011121314", "not a 16-byte key"),
        ("00010001000200030001000200030004", "distinct bytes"),
    ])
    func secretStrengthFails(secret: String, expected: String) throws {
        let host = try FakeHost()
        host.secretText = secret
        try host.writeConfig()
        let outcome = host.outcome("secret_strength")
        #expect(outcome.status == .fail)
        #expect(outcome.detail.contains(expected), "\(outcome.detail)")
        let key = SecretStrength.key(in: secret)?.key.hexString
        for text in [outcome.detail, outcome.fix ?? ""] {
            #expect(!text.contains(secret))
            if let key { #expect(!text.contains(key)) }
        }
    }

    @Test func secretStrengthFailsForAWorldReadableConfigurationAndASharedKey() throws {
        let host = try FakeHost()
        try host.writeConfig(mode: 0o644)
        #expect(host.outcome("secret_strength").detail.contains("readable by every user"))
        let key = SecureRandom.bytes(16).hexString
        host.secretText = key
        try host.writeConfig(extra: "", mode: 0o600)
        var text = try String(contentsOfFile: host.configPath, encoding: .utf8)
        text = text.replacingOccurrences(of: "secrets:\n", with: "secrets:\n  - name: copy\n    secret: dd\(key)\n")
        try host.directory.write("mtproxy.yaml", text)
        let outcome = host.outcome("secret_strength")
        #expect(outcome.status == .fail)
        #expect(outcome.detail.contains("secrets copy and main share one key"))
        #expect(!outcome.detail.contains(key))
    }

    @Test func secretAgeFollowsTheConfigurationsLastChange() throws {
        let host = try FakeHost()
        #expect(host.outcome("secret_age").status == .pass)
        let later = host.context(now: host.now.addingTimeInterval(40.5 * 86_400))
        let outcome = host.outcome("secret_age", later)
        #expect(outcome.status == .fail)
        #expect(outcome.detail.contains("not changed for 40 days"))
    }

    // MARK: stats and monitoring

    @Test(arguments: [("127.0.0.1:3001", CheckOutcome.Status.pass), ("\"[::1]:3001\"", .pass), ("null", .pass),
                      ("0.0.0.0:3001", .fail), ("\"[::]:3001\"", .fail), ("192.0.2.1:3001", .fail)])
    func statsLoopback(listen: String, expected: CheckOutcome.Status) throws {
        let host = try FakeHost()
        try host.writeConfig(stats: listen)
        #expect(host.outcome("stats_loopback").status == expected)
    }

    @Test func monitoringPassesOnlyWhenStatsAnswer200() throws {
        let host = try FakeHost()
        let good = try OneAnswerServer(response: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        try host.writeConfig(stats: "127.0.0.1:\(good.port)")
        #expect(host.outcome("monitoring_reachable").status == .pass)
        #expect(good.requests.first?.hasPrefix("GET /stats HTTP/1.1\r\n") == true)

        let missing = try OneAnswerServer(response: "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        try host.writeConfig(stats: "127.0.0.1:\(missing.port)")
        #expect(host.outcome("monitoring_reachable").detail.contains("answers 404"))

        let silent = try OneAnswerServer(response: nil)
        try host.writeConfig(stats: "127.0.0.1:\(silent.port)")
        let quiet = host.outcome("monitoring_reachable", host.context(statsTimeout: .milliseconds(300)))
        #expect(quiet.status == .fail)
        #expect(quiet.detail.contains("did not answer"))

        let closedPort = try OneAnswerServer.unusedPort()
        try host.writeConfig(stats: "127.0.0.1:\(closedPort)")
        #expect(host.outcome("monitoring_reachable").detail.contains("Connection refused"))

        try host.writeConfig(stats: "null")
        #expect(host.outcome("monitoring_reachable").status == .fail)
    }

    // MARK: logging

    @Test func loggingFailsWhenOffMissingOrReadableByAll() throws {
        let host = try FakeHost()
        #expect(host.outcome("logging_enabled").status == .pass)
        chmod(host.eventsPath, 0o644)
        #expect(host.outcome("logging_enabled").detail.contains("readable by every user"))
        try host.writeConfig(events: host.directory.file("log/none.jsonl"))
        #expect(host.outcome("logging_enabled").detail.contains("does not exist"))
        try host.writeConfig(events: "null")
        #expect(host.outcome("logging_enabled").status == .fail)
        try host.writeConfig(events: "\"-\"")
        #expect(host.outcome("logging_enabled").status == .pass)
    }

    @Test func logRotationNeedsARuleCoveringTheEventLog() throws {
        let host = try FakeHost()
        let outcome = host.outcome("log_rotation")
        #expect(outcome.status == .pass)
        #expect(outcome.detail.contains("daily, keeps 7, compressed"))

        try host.directory.write("root/etc/logrotate.d/mtshield", "/elsewhere/*.log {\n daily\n rotate 7\n}\n")
        #expect(host.outcome("log_rotation").detail.contains("no logrotate rule covers"))

        try host.directory.write("root/etc/logrotate.d/mtshield", "\(host.eventsPath) {\n daily\n compress\n}\n")
        #expect(host.outcome("log_rotation").detail.contains("without keeping a bounded number"))

        // Defaults from logrotate.conf apply to later blocks.
        try host.directory.write("root/etc/logrotate.conf", "weekly\nrotate 4\n\(host.eventsPath) {\n missingok\n}\n")
        try FileManager.default.removeItem(atPath: host.root + "/etc/logrotate.d/mtshield")
        #expect(host.outcome("log_rotation").status == .pass)

        try FileManager.default.removeItem(atPath: host.root + "/usr/sbin/logrotate")
        #expect(host.outcome("log_rotation").detail.contains("logrotate is not installed"))

        try host.writeConfig(events: "\"-\"")
        #expect(host.outcome("log_rotation").status == .unknown)
    }

    // MARK: backup

    @Test func backupFailsWhenMissingTamperedUnverifiedOldOrPublic() throws {
        let host = try FakeHost()
        let passing = host.outcome("backup_recent")
        #expect(passing.status == .pass, "\(passing.detail)")
        #expect(passing.detail.contains("SHA-256 matches"))

        let archive = try host.writeBackup(age: 60)
        var bytes = try readBytes(archive)
        bytes[100] ^= 1
        try Data(bytes).write(to: URL(fileURLWithPath: archive))
        #expect(host.outcome("backup_recent").detail.contains("damaged or altered"))

        let unverified = try host.writeBackup(age: 30)
        try FileManager.default.removeItem(atPath: unverified + ".sha256")
        #expect(host.outcome("backup_recent").detail.contains("no .sha256"))

        try host.writeBackup(age: 10 * 86_400)
        #expect(host.outcome("backup_recent").detail.contains("is 10 days old"))

        try host.writeBackup(age: 20, mode: 0o644)
        #expect(host.outcome("backup_recent").detail.contains("readable by others"))

        try FileManager.default.removeItem(atPath: host.backups + "/latest")
        #expect(host.outcome("backup_recent").detail.contains("no backup"))

        var noDirectory = host.context()
        noDirectory.backupDirectory = nil
        #expect(host.outcome("backup_recent", noDirectory).status == .unknown)
    }

    // MARK: container

    @Test func containerPassesOutsideOneAndWhenHardened() throws {
        let host = try FakeHost()
        #expect(host.outcome("container_hardening").detail.contains("not running in a container"))
        try hardenedContainer(host)
        let outcome = host.outcome("container_hardening")
        #expect(outcome.status == .pass, "\(outcome.detail)")
        #expect(outcome.detail.contains("read-only root"))
    }

    @Test(arguments: [("NoNewPrivs:\t1", "NoNewPrivs:\t0", "can gain privileges"),
                      ("Uid:\t10001\t10001\t10001\t10001", "Uid:\t0\t0\t0\t0", "runs as root"),
                      ("CapBnd:\t0000000000000000", "CapBnd:\t00000000a80425fb", "keeps capabilities"),
                      ("/ ro,relatime", "/ rw,relatime", "root file system is writable"),
                      ("/tmp rw,nosuid,nodev,noexec", "/tmp rw,nosuid,nodev", "/tmp allows executing"),
                      ("536870912", "max", "no memory limit")])
    func containerFails(replacing: String, with: String, expected: String) throws {
        let host = try FakeHost()
        try hardenedContainer(host)
        for file in ["root/proc/4242/status", "root/proc/4242/mountinfo", "root/sys/fs/cgroup/memory.max"] {
            let text = try String(contentsOfFile: host.directory.file(file), encoding: .utf8)
            try host.directory.write(file, text.replacingOccurrences(of: replacing, with: with))
        }
        let outcome = host.outcome("container_hardening")
        #expect(outcome.status == .fail)
        #expect(outcome.detail.contains(expected), "\(outcome.detail)")
    }

    func hardenedContainer(_ host: FakeHost) throws {
        try host.directory.write("root/.dockerenv", "")
        try host.directory.write("root/proc/4242/status", "Name:\tmtproxy\nUid:\t10001\t10001\t10001\t10001\nNoNewPrivs:\t1\nCapBnd:\t0000000000000000\nCapEff:\t0000000000000000\n")
        try host.directory.write("root/proc/4242/mountinfo", """
            600 500 0:50 / / ro,relatime master:1 - overlay overlay rw,lowerdir=/x
            601 600 0:51 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
            602 600 0:52 / /tmp rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,size=65536k

            """)
        try host.directory.write("root/sys/fs/cgroup/memory.max", "536870912\n")
    }
}

/// A loopback HTTP server that answers every connection with one fixed response, or
/// never answers (`response` nil); it records what it was sent.
final class OneAnswerServer {
    final class Log: @unchecked Sendable {
        let lock = NSLock()
        var requests: [String] = []
    }

    let port: Int
    private let descriptor: Int32
    private let log = Log()

    var requests: [String] { log.lock.withLock { log.requests } }

    init(response: String?) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let listener = descriptor
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(listener, 16) == 0 else { throw ForensicsError.lastIO("127.0.0.1", "bind") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) } }
        port = Int(UInt16(bigEndian: address.sin_port))
        let log = self.log
        Thread { Self.serve(listener, response, log) }.start()
    }

    deinit {
        // Wakes the accept() of the serving thread, which then ends.
        shutdown(descriptor, Int32(SHUT_RDWR))
        close(descriptor)
    }

    private static func serve(_ listener: Int32, _ response: String?, _ log: Log) {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { return }
            var buffer = [UInt8](repeating: 0, count: 4096)
            let count = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if count > 0 { log.lock.withLock { log.requests.append(String(decoding: buffer[..<count], as: UTF8.self)) } }
            if let response {
                _ = Array(response.utf8).withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            } else {
                // Hold the connection without answering until the client gives up.
                _ = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            }
            close(client)
        }
    }

    /// A loopback port nothing listens on (bound, then released).
    static func unusedPort() throws -> Int {
        try OneAnswerServer(response: "").port
    }
}
