import Foundation
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
}
