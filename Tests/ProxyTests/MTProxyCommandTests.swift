import EventLog
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import Proxy

/// Runs the built `mtproxy` binary (`swift build` puts it in .build/debug) as a user would.
@Suite struct MTProxyCommandTests {
    struct Output {
        var status: Int32
        var standardOutput: String
        var standardError: String
    }

    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let example = packageRoot.appendingPathComponent("deploy/mtproxy.example.yaml").path

    static func binary() throws -> URL {
        let url = packageRoot.appendingPathComponent(".build/debug/mtproxy")
        try #require(FileManager.default.isExecutableFile(atPath: url.path), "build first: swift build")
        return url
    }

    static func run(_ arguments: [String], timeout: Duration = .seconds(20)) throws -> Output {
        let process = Process()
        process.executableURL = try binary()
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { usleep(10_000) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus,
            standardOutput: String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self),
            standardError: String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))
    }

    static func temporaryFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("mtproxy-\(UUID()).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func secretGeneratePrintsASecretAndBothLinks() throws {
        let output = try Self.run(["secret", "generate", "--domain", "www.example.com", "--server", "proxy.example.net", "--port", "8443"])
        #expect(output.status == 0)
        let lines = output.standardOutput.split(separator: "\n").map(String.init)
        try #require(lines.count == 3)
        let secret = try ProxySecret(name: "g", text: lines[0])
        #expect(secret.form == .faketls)
        #expect(secret.domain == "www.example.com")
        #expect(lines[1] == "tg://proxy?server=proxy.example.net&port=8443&secret=\(lines[0])")
        #expect(lines[2] == "https://t.me/proxy?server=proxy.example.net&port=8443&secret=\(lines[0])")
        // The created: line to paste beside it, a UTC time within the last minutes.
        let created = try #require(output.standardError.firstMatch(of: /created: (\S+Z)`/)?.1)
        let milliseconds = try #require(RetirementTime.parse(created))
        #expect(abs(Event.nowMilliseconds() - milliseconds) < 600_000)
        #expect(!output.standardError.contains(lines[0]))
        let again = try Self.run(["secret", "generate", "--domain", "www.example.com", "--server", "h"])
        #expect(again.standardOutput.split(separator: "\n").first.map(String.init) != lines[0])
    }

    @Test(arguments: [("classic", 32), ("secure", 34)])
    func secretGenerateForms(form: String, length: Int) throws {
        let output = try Self.run(["secret", "generate", "--form", form, "--server", "h"])
        #expect(output.status == 0)
        #expect(output.standardOutput.split(separator: "\n").first?.count == length)
    }

    @Test func secretGenerateRefusesBadArguments() throws {
        #expect(try Self.run(["secret", "generate", "--form", "faketls"]).status != 0)
        let badDomain = try Self.run(["secret", "generate", "--domain", "not a domain", "--server", "h"])
        #expect(badDomain.status != 0)
        #expect(badDomain.standardOutput.isEmpty)
        #expect(badDomain.standardError.contains("domain"))
    }

    @Test func linkPrintsEverySecret() throws {
        let output = try Self.run(["link", "--config", Self.example])
        #expect(output.status == 0)
        let secret = "ee00112233445566778899aabbccddeeff7777772e6578616d706c652e636f6d"
        #expect(output.standardOutput == """
        main (faketls)
          tg://proxy?server=proxy.example.net&port=443&secret=\(secret)
          https://t.me/proxy?server=proxy.example.net&port=443&secret=\(secret)

        """)
        let overridden = try Self.run(["link", "--config", Self.example, "--server", "10.1.2.3", "--port", "8443"])
        #expect(overridden.standardOutput.contains("tg://proxy?server=10.1.2.3&port=8443&secret="))
    }

    @Test func linkNeedsAServerWhenListeningOnWildcards() throws {
        let path = try Self.temporaryFile("secrets:\n  - name: a\n    secret: dd00112233445566778899aabbccddeeff\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let output = try Self.run(["link", "--config", path])
        #expect(output.status == 1)
        #expect(output.standardError.contains("\(path): public_host: not set and every listen address is a wildcard"))
        #expect(!output.standardOutput.contains("00112233"))
    }

    @Test func checkConfigSaysOK() throws {
        let output = try Self.run(["check-config", "--config", Self.example])
        #expect(output.status == 0)
        #expect(output.standardOutput.hasPrefix("OK: "))
        #expect(!output.standardOutput.contains("00112233"))
    }

    @Test func checkConfigListsEveryProblemWithoutTheSecret() throws {
        let key = "00112233445566778899aabbccddeeff"
        let path = try Self.temporaryFile("""
        instance: "a b"
        secrets:
          - name: a
            secret: \(key)0
        limits:
          idle_timeout: 5
        """)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let output = try Self.run(["check-config", "--config", path])
        #expect(output.status == 1)
        #expect(output.standardOutput.isEmpty)
        let lines = output.standardError.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines.first == "error: \(path):1: instance: expected a name of 1 to 64 letters, digits, '.', '_' or '-'")
        #expect(lines.dropFirst().first?.hasPrefix("error: \(path):4: secrets[0].secret: secret has 33 hex characters") == true)
        #expect(lines.last == "error: \(path):6: limits.idle_timeout: expected a duration such as 500ms, 30s, 5m, 2h or 7d, found \"5\"")
        #expect(!output.standardError.contains("0011223344"))
    }

    @Test func missingConfigFileIsAClearError() throws {
        let output = try Self.run(["check-config", "--config", "/nonexistent/mtproxy.yaml"])
        #expect(output.status == 1)
        #expect(output.standardError == "error: /nonexistent/mtproxy.yaml: cannot open: No such file or directory\n")
    }

    // MARK: run

    /// A running `mtproxy run` whose standard error goes to a file the test can poll.
    final class RunningProxy {
        let process = Process()
        let logPath: String

        init(_ arguments: [String]) throws {
            logPath = FileManager.default.temporaryDirectory.appendingPathComponent("mtproxy-run-\(UUID()).log").path
            _ = FileManager.default.createFile(atPath: logPath, contents: nil)
            process.executableURL = try MTProxyCommandTests.binary()
            process.arguments = arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle(forWritingAtPath: logPath)
            try process.run()
        }

        var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

        /// Waits up to ten seconds for `text` in the log.
        func waitFor(_ text: String) -> Bool {
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                if log.contains(text) { return true }
                if !process.isRunning { return log.contains(text) }
                usleep(10_000)
            }
            return false
        }

        /// Sends SIGTERM and waits up to ten seconds for the exit status.
        func stop() -> Int32? {
            if process.isRunning { kill(process.processIdentifier, SIGTERM) }
            let deadline = ContinuousClock.now + .seconds(10)
            while process.isRunning && ContinuousClock.now < deadline { usleep(10_000) }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                return nil
            }
            return process.terminationStatus
        }

        deinit {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            try? FileManager.default.removeItem(atPath: logPath)
        }
    }

    static let runnable = "listen: [\"127.0.0.1:0\"]\nstats:\n  listen: null\nevents:\n  path: null\nsecrets:\n  - name: a\n    secret: dd00112233445566778899aabbccddeeff\n"

    @Test func runRefusesRootWithoutUser() throws {
        let path = try Self.temporaryFile(Self.runnable)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let output = try Self.run(["run", "--config", path])
        if geteuid() == 0 {
            #expect(output.status == 1)
            #expect(output.standardError.contains("refusing to run as root"))
        } else {
            #expect(output.standardError.contains("refusing to run as root") == false)
        }
    }

    @Test func runRefusesABadConfigurationWithItsLocation() throws {
        let path = try Self.temporaryFile(Self.runnable + "limits:\n  max_connections: many\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let output = try Self.run(["run", "--config", path, "--allow-root"])
        #expect(output.status == 1)
        #expect(output.standardError == "error: \(path):10: limits.max_connections: expected an integer, found \"many\"\n")
    }

    @Test func hangupWithABadFileKeepsRunningAndTermStopsCleanly() throws {
        let path = try Self.temporaryFile(Self.runnable)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let proxy = try RunningProxy(["run", "--config", path, "--allow-root"])
        #expect(proxy.waitFor("proxy started"))
        try (Self.runnable + "limits:\n  idle_timeout: soon\n").write(toFile: path, atomically: true, encoding: .utf8)
        kill(proxy.process.processIdentifier, SIGHUP)
        #expect(proxy.waitFor("configuration rejected"))
        #expect(proxy.log.contains("\(path):10: limits.idle_timeout: expected a duration"))
        #expect(proxy.process.isRunning)
        try Self.runnable.write(toFile: path, atomically: true, encoding: .utf8)
        kill(proxy.process.processIdentifier, SIGHUP)
        #expect(proxy.waitFor("configuration reloaded"))
        #expect(proxy.stop() == 0)
        #expect(proxy.log.contains("proxy stopped"))
        #expect(!proxy.log.contains("00112233"))
    }

    @Test func runDropsPrivilegesToTheConfiguredUser() throws {
        let path = try Self.temporaryFile(Self.runnable + "user: nobody\n")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let proxy = try RunningProxy(["run", "--config", path])
        guard geteuid() == 0 else {
            #expect(proxy.stop() == 1)
            #expect(proxy.log.contains("cannot switch to nobody"))
            return
        }
        #expect(proxy.waitFor("privileges dropped"))
        // Every thread, the main one included, runs as nobody with only nobody's group.
        let tasks = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(proxy.process.processIdentifier)/task")
        #expect(!tasks.isEmpty)
        for task in tasks {
            let status = try String(contentsOfFile: "/proc/\(proxy.process.processIdentifier)/task/\(task)/status", encoding: .utf8)
            let lines = status.split(separator: "\n")
            #expect(lines.first { $0.hasPrefix("Uid:") }?.split(separator: "\t").dropFirst().allSatisfy { $0 == "65534" } == true, "thread \(task)")
            #expect(lines.first { $0.hasPrefix("Gid:") }?.split(separator: "\t").dropFirst().allSatisfy { $0 == "65534" } == true, "thread \(task)")
            #expect(lines.first { $0.hasPrefix("Groups:") }.map { $0.dropFirst("Groups:".count).trimmingCharacters(in: .whitespaces) } == "65534")
        }
        #expect(proxy.stop() == 0)
    }

    /// Opens and closes one TCP connection from 127.0.0.1 to `port`.
    static func connectOnce(port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        usleep(50_000)
        return connected == 0
    }

    /// `GET path` over HTTP/1.1 to 127.0.0.1:`port`; the whole response, headers included
    /// ("" when nothing listens).
    static func httpGet(port: Int, path: String) -> String {
        let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        return String(decoding: (try? StatsServerTests.blockingExchange(port: port, request)) ?? [], as: UTF8.self)
    }

    @Test func runEnforcesTheLiveBlocklistAndReportsReloadsAsEvents() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mtproxy-run-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let blocklistPath = directory + "/blocklist.txt"
        let eventsPath = directory + "/events.jsonl"
        let configPath = directory + "/mtproxy.yaml"
        let config = """
        listen: ["127.0.0.1:0"]
        stats:
          listen: 127.0.0.1:0
        events:
          path: \(eventsPath)
          privacy: full
        blocklist: \(blocklistPath)
        secrets:
          - name: a
            secret: dd00112233445566778899aabbccddeeff
        """
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        try "127.0.0.1\n".write(toFile: blocklistPath, atomically: true, encoding: .utf8)
        let proxy = try RunningProxy(["run", "--config", configPath, "--allow-root"])
        try #require(proxy.waitFor("proxy started"))
        let bound = try #require(proxy.log.split(separator: " ").first { $0.hasPrefix("proxy.bound=") })
        let port = try #require(Int(bound.split(separator: ":").last ?? ""))
        let statsBound = try #require(proxy.log.split(separator: " ").first { $0.hasPrefix("stats.listen=") })
        let statsPort = try #require(Int(statsBound.split(separator: ":").last ?? ""))
        func events() -> String { (try? String(contentsOfFile: eventsPath, encoding: .utf8)) ?? "" }
        func waitForEvent(_ text: String, count: Int = 1) -> Bool {
            let deadline = ContinuousClock.now + .seconds(10)
            while ContinuousClock.now < deadline {
                if events().components(separatedBy: text).count - 1 >= count { return true }
                usleep(10_000)
            }
            return false
        }

        #expect(Self.connectOnce(port: port))
        #expect(waitForEvent("\"event.reason\":\"blocklisted\""))
        let statsResponse = Self.httpGet(port: statsPort, path: "/stats")
        #expect(statsResponse.hasPrefix("HTTP/1.1 200"))
        #expect(statsResponse.replacingOccurrences(of: " ", with: "").contains("\"blocklisted\":1"), "\(statsResponse)")

        // The auditor replaces the list: 127.0.0.1 is no longer in it.
        try "127.0.0.2\n".write(toFile: blocklistPath, atomically: true, encoding: .utf8)
        #expect(waitForEvent("\"event.action\":\"blocklist.reloaded\"", count: 2))
        #expect(Self.connectOnce(port: port))
        #expect(waitForEvent("\"event.action\":\"connection.accepted\""))
        #expect(events().components(separatedBy: "\"event.reason\":\"blocklisted\"").count - 1 == 1)

        // SIGHUP: a bad file is refused with its location, a good one applied.
        try (config + "\nlimits:\n  max_connections: lots\n").write(toFile: configPath, atomically: true, encoding: .utf8)
        kill(proxy.process.processIdentifier, SIGHUP)
        #expect(waitForEvent("\"event.action\":\"config.rejected\""))
        #expect(events().contains("\"labels.key\":\"limits.max_connections\""))
        #expect(events().contains("\"labels.line\":\"12\""))
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        kill(proxy.process.processIdentifier, SIGHUP)
        #expect(waitForEvent("\"event.action\":\"config.reloaded\""))

        #expect(proxy.stop() == 0)
        #expect(waitForEvent("\"event.action\":\"proxy.stopped\""))
        #expect(!events().contains("00112233445566778899"))
        #expect(!proxy.log.contains("00112233445566778899"))
    }
}
