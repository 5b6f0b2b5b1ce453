import EventLog
import Foundation
import Testing
@testable import Proxy

/// `mtproxy logs`, `monitor` and `secret rotate` through the built binary.
@Suite struct OperationsCommandTests {
    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "operations-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        return path
    }

    /// The last events sit across several 64 KiB blocks (a long line that is not an event
    /// between them), beside a damaged line.
    @Test func logsPrintsTheLastEventsInOrderAcrossBlocks() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func event(_ index: Int) -> [UInt8] {
            Event(timestampMilliseconds: 1_780_000_000_000 + Int64(index), action: .handshakeFailed, outcome: .failure,
                  reason: "bad_secret", sourceIP: "203.0.113.\(index % 250)", sourcePort: 40_000 + index,
                  sessionID: String(format: "%016x", index)).jsonLine()
        }
        var bytes: [UInt8] = []
        for index in 0..<20 { bytes += event(index) }
        bytes += Array(String(repeating: "not an event ", count: 15_000).utf8) + [10]
        bytes += event(20)
        bytes += Array("{\"@timestamp\": broken\n".utf8)
        let path = directory + "/events.jsonl"
        try Data(bytes).write(to: URL(fileURLWithPath: path))

        let last = try MTProxyCommandTests.run(["logs", "--events", path, "-n", "4"])
        #expect(last.status == 0, "\(last.standardError)")
        let lines = last.standardOutput.split(separator: "\n")
        #expect(lines.count == 4)
        #expect(lines[0].contains("handshake.failed") && lines[0].contains("bad_secret") && lines[0].contains("203.0.113.18:40018"))
        #expect(lines[1].contains("session=0000000000000013"))
        #expect(lines[2].contains("session=0000000000000014"))
        #expect(lines[3].hasPrefix("(unreadable event line"))

        let all = try MTProxyCommandTests.run(["logs", "--events", path, "-n", "100"])
        let allLines = all.standardOutput.split(separator: "\n")
        #expect(allLines.count == 22)
        #expect(allLines.first?.contains("session=0000000000000000") == true)
        #expect(!all.standardOutput.contains("not an event"))
    }

    @Test func monitorSaysWhatIsWrong() throws {
        let bad = try MTProxyCommandTests.run(["monitor", "--stats", "http://stats.example.net:3001/stats", "--once"])
        #expect(bad.status == 1)
        #expect(bad.standardError.contains("the host must be an IP address"))
        // Nothing listens on port 9 of 127.0.0.1 (discard): the connection is refused.
        let down = try MTProxyCommandTests.run(["monitor", "--stats", "http://127.0.0.1:9/stats", "--once"])
        #expect(down.status == 1)
        #expect(down.standardError.contains("cannot connect"))
        let interval = try MTProxyCommandTests.run(["monitor", "--interval", "1ms", "--once"])
        #expect(interval.status != 0)
    }

    @Test func rotateRewritesTheFileAndPrintsOnlyTheNewLink() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let old = "dd00112233445566778899aabbccddeeff"
        let path = directory + "/p.yaml"
        try "# mine\nlisten: [\"127.0.0.1:8443\"]\nsecrets:\n  - name: main\n    secret: \(old)\n"
            .write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, 0o600)
        let rotated = try MTProxyCommandTests.run(["secret", "rotate", "--config", path, "--grace", "2h"])
        #expect(rotated.status == 0, "\(rotated.standardError)")
        #expect(!rotated.standardOutput.contains(old))
        #expect(rotated.standardOutput.contains("tg://proxy?server=127.0.0.1&port=8443&secret=dd"))
        let configuration = try ProxyConfiguration.load(path: path)
        #expect(configuration.secrets.count == 2)
        #expect(try String(contentsOfFile: path, encoding: .utf8).hasPrefix("# mine\n"))
        #expect((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) == 0o600)
        let link = try MTProxyCommandTests.run(["link", "--config", path])
        #expect(link.standardOutput.contains("retiring at"))

        let badGrace = try MTProxyCommandTests.run(["secret", "rotate", "--config", path, "--grace", "forever"])
        #expect(badGrace.status != 0)
        let pruned = try MTProxyCommandTests.run(["secret", "prune", "--config", path])
        #expect(pruned.standardOutput == "nothing to remove\n")
    }
}
