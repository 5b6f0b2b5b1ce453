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

    @Test func secretAgeGoesByTheCreatedField() throws {
        let host = try FakeHost()
        let young = host.outcome("secret_age")
        #expect(young.status == .pass, "\(young.detail)")
        #expect(young.detail.contains("main is 10 day(s) old") && young.detail.contains("by its created: field"), "\(young.detail)")

        // The file changed a moment ago, but the key it holds is old: the field decides.
        host.secretCreated = host.now.addingTimeInterval(-40.5 * 86_400)
        try host.writeConfig()
        let old = host.outcome("secret_age")
        #expect(old.status == .fail)
        #expect(old.detail.contains("secret main is 40 days old") && old.detail.contains("limit 35"), "\(old.detail)")
        #expect(old.fix?.contains("mtproxy secret rotate --config \(host.configPath)") == true)

        // Ages pass with the clock: the same file 30 days later fails.
        host.secretCreated = host.now.addingTimeInterval(-10 * 86_400)
        try host.writeConfig()
        #expect(host.outcome("secret_age", host.context(now: host.now.addingTimeInterval(30 * 86_400))).status == .fail)

        host.secretCreated = host.now.addingTimeInterval(86_400)
        try host.writeConfig()
        let future = host.outcome("secret_age")
        #expect(future.status == .unknown)
        #expect(future.detail.contains("in the future"))
    }

    @Test func secretAgeOnlyJudgesSecretsInService() throws {
        let host = try FakeHost()
        let retiring = FakeHost.utc(host.now.addingTimeInterval(3600))
        let made = FakeHost.utc(host.now.addingTimeInterval(-400 * 86_400))
        try host.writeConfig(extra: "", mode: 0o640)
        var text = try String(contentsOfFile: host.configPath, encoding: .utf8)
        text = text.replacingOccurrences(of: "secrets:\n", with: "secrets:\n  - name: old.retiring-20250101-000000\n    retires_at: \(retiring)\n    created: \(made)\n    secret: dd\(SecureRandom.bytes(16).hexString)\n")
        try host.directory.write("mtproxy.yaml", text)
        let outcome = host.outcome("secret_age")
        #expect(outcome.status == .pass, "\(outcome.detail)")
        #expect(!outcome.detail.contains("old.retiring"))
    }

    /// An older file without `created:`, rotated by an older binary: the retiring entry's
    /// name dates the rotation while it is in the file.
    @Test func secretAgeGoesByTheRetiringEntrysName() throws {
        let host = try FakeHost()
        host.secretCreated = nil
        let rotated = host.now.addingTimeInterval(-3 * 86_400)
        let stamp = FakeHost.utc(rotated).filter(\.isNumber)
        let name = "main.retiring-\(stamp.prefix(8))-\(stamp.dropFirst(8).prefix(6))"
        try host.writeConfig(extra: "")
        var text = try String(contentsOfFile: host.configPath, encoding: .utf8)
        text = text.replacingOccurrences(of: "stats:\n", with: "  - name: \(name)\n    retires_at: \(FakeHost.utc(host.now.addingTimeInterval(3600)))\n    secret: dd\(SecureRandom.bytes(16).hexString)\nstats:\n")
        try host.directory.write("mtproxy.yaml", text)
        let outcome = host.outcome("secret_age")
        #expect(outcome.status == .pass, "\(outcome.detail)")
        #expect(outcome.detail.contains("main is 3 day(s) old") && outcome.detail.contains("the rotation that left \(name)"), "\(outcome.detail)")
        #expect(host.outcome("secret_age", host.context(now: host.now.addingTimeInterval(33 * 86_400))).status == .fail)
    }

    /// No `created:` and no retiring entry: the newest `secret.rotated` event naming the
    /// secret, in the event log or its rotated `.1`.
    @Test func secretAgeGoesByTheLastRotationEvent() throws {
        let host = try FakeHost()
        host.secretCreated = nil
        try host.writeConfig()
        func line(_ name: String, daysAgo: Double) -> String {
            let stamp = RFC3339.format(milliseconds: Int64(host.now.addingTimeInterval(-daysAgo * 86_400).timeIntervalSince1970 * 1000))
            return #"{"@timestamp":"\#(stamp)","event.action":"secret.rotated","event.outcome":"success","mt.secret":"\#(name)","labels":{"retiring":"\#(name).retiring-x"}}"# + "\n"
        }
        let noise = #"{"@timestamp":"2026-01-01T00:00:00.000Z","event.action":"connection.accepted","message":"not secret.rotated"}"# + "\n"
        try host.directory.write("log/events.jsonl.1", line("main", daysAgo: 50) + noise + "not json secret.rotated\n")
        try host.directory.write("log/events.jsonl", noise + line("main", daysAgo: 6) + line("other", daysAgo: 1) + noise)
        let outcome = host.outcome("secret_age")
        #expect(outcome.status == .pass, "\(outcome.detail)")
        #expect(outcome.detail.contains("main is 6 day(s) old") && outcome.detail.contains("a secret.rotated event in \(host.eventsPath)"), "\(outcome.detail)")

        // Only the rotated copy remembers a rotation, and it is too old.
        try host.directory.write("log/events.jsonl", noise)
        let old = host.outcome("secret_age")
        #expect(old.status == .fail)
        #expect(old.detail.contains("50 days old") && old.detail.contains("events.jsonl.1"), "\(old.detail)")
    }

    /// Nothing dates the secret: a file changed lately says nothing about the key in it
    /// (unknown, said so); a file unchanged for longer than the limit shows the key is old.
    @Test func secretAgeWithoutEvidenceIsUnknownUnlessTheFileProvesItOld() throws {
        let host = try FakeHost()
        host.secretCreated = nil
        try host.writeConfig()
        let unknown = host.outcome("secret_age")
        #expect(unknown.status == .unknown, "\(unknown.detail)")
        #expect(unknown.detail.contains("its age is unknown") && unknown.detail.contains("changed 0 day(s) ago"), "\(unknown.detail)")
        #expect(unknown.fix?.contains("created: YYYY-MM-DDTHH:MM:SSZ") == true)

        var times = [timeval(tv_sec: Int(host.now.timeIntervalSince1970) - 50 * 86_400, tv_usec: 0),
                     timeval(tv_sec: Int(host.now.timeIntervalSince1970) - 50 * 86_400, tv_usec: 0)]
        #expect(utimes(host.configPath, &times) == 0)
        let old = host.outcome("secret_age")
        #expect(old.status == .fail)
        #expect(old.detail.contains("at least 50 days old"), "\(old.detail)")

        // A created: that is not a time is reported, not trusted.
        let text = try String(contentsOfFile: host.configPath, encoding: .utf8)
        try host.directory.write("mtproxy.yaml", text.replacingOccurrences(of: "    secret: \(host.secretText)\n", with: "    secret: \(host.secretText)\n    created: last spring\n"))
        let unreadable = host.outcome("secret_age")
        #expect(unreadable.status == .unknown)
        #expect(unreadable.detail.contains("not an RFC 3339 time"), "\(unreadable.detail)")
        let key = String(host.secretText.dropFirst(2).prefix(32))
        for text in [unknown.detail, old.detail, unreadable.detail, unreadable.fix ?? ""] { #expect(!text.contains(key)) }
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
