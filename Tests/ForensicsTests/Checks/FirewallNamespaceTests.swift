import Foundation
import Testing
@testable import Forensics

/// deploy/nftables.conf in network namespaces this suite creates and always deletes; the
/// host's own ruleset is never touched. A server namespace holds the ruleset and a
/// listener on the proxy port; a client namespace, joined by a veth pair, has several
/// addresses to be distinct sources.
@Suite(.serialized) struct FirewallNamespaceTests {
    static let serverAddress = "10.77.0.1"
    static let proxyPort = 443

    /// A pair of namespaces with the shipped ruleset loaded in the server one.
    final class Lab {
        let ip: String
        let nft: String
        let python = "/usr/bin/python3"
        let server: String
        let client: String
        private var listener: Process?

        init() throws {
            ip = try #require(CommandRunner.locate("ip"), "ip (iproute2) missing: make test installs it")
            nft = try #require(CommandRunner.locate("nft"), "nft (nftables) missing: make test installs it")
            try #require(FileManager.default.isExecutableFile(atPath: python), "python3 missing: make test installs it")
            let tag = SecureRandomTag.make()
            server = "mtshield-test-\(tag)-s"
            client = "mtshield-test-\(tag)-c"
            try must([ip, "netns", "add", server])
            do {
                try must([ip, "netns", "add", client])
                try must([ip, "-n", server, "link", "add", "vs", "type", "veth", "peer", "name", "vc", "netns", client])
                try must([ip, "-n", server, "addr", "add", "\(serverAddress)/24", "dev", "vs"])
                try must([ip, "-n", server, "link", "set", "vs", "up"])
                try must([ip, "-n", server, "link", "set", "lo", "up"])
                for host in 2...5 { try must([ip, "-n", client, "addr", "add", "10.77.0.\(host)/24", "dev", "vc"]) }
                try must([ip, "-n", client, "link", "set", "vc", "up"])
                try must([ip, "-n", client, "link", "set", "lo", "up"])
            } catch {
                remove()
                throw error
            }
        }

        deinit { remove() }

        private func remove() {
            // SIGKILL: the child inherits the test runner's blocked signals, SIGTERM among them.
            if let listener, listener.isRunning {
                kill(listener.processIdentifier, SIGKILL)
                listener.waitUntilExit()
            }
            _ = try? run([ip, "netns", "del", client])
            _ = try? run([ip, "netns", "del", server])
        }

        @discardableResult
        func must(_ argv: [String]) throws -> ToolRun {
            let result = try run(argv)
            try #require(result.status == 0, "\(argv.joined(separator: " ")): \(result.error)")
            return result
        }

        func inServer(_ argv: [String]) throws -> ToolRun { try run([ip, "netns", "exec", server] + argv) }
        func inClient(_ argv: [String]) throws -> ToolRun { try run([ip, "netns", "exec", client] + argv) }

        /// Starts a listener on the proxy port in the server namespace and waits until it accepts.
        func listen() throws {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: ip)
            process.arguments = ["netns", "exec", server, python, "-c", FirewallNamespaceTests.listenerScript, String(proxyPort)]
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            try process.run()
            listener = process
            var descriptor = pollfd(fd: output.fileHandleForReading.fileDescriptor, events: Int16(POLLIN), revents: 0)
            try #require(poll(&descriptor, 1, 20_000) == 1, "the listener did not start within 20 s")
            let line = String(decoding: output.fileHandleForReading.availableData, as: UTF8.self)
            try #require(line.hasPrefix("listening"), "listener: \(line)")
        }

        /// Connection attempts from `source`, all at once; how many were accepted within `wait`
        /// seconds (shorter than TCP's first SYN retransmission, 1 s).
        func attempts(from source: String, count: Int, wait: Double = 0.8) throws -> Int {
            let result = try inClient([python, "-c", FirewallNamespaceTests.clientScript, source, serverAddress,
                                       String(proxyPort), String(count), String(wait)])
            try #require(result.status == 0, "client: \(result.error)")
            return try #require(Int(result.text.trimmingASCIIWhitespace))
        }
    }

    static let listenerScript = """
    import socket, sys
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", int(sys.argv[1])))
    s.listen(512)
    print("listening", flush=True)
    while True:
        c, _ = s.accept()
        c.close()
    """

    static let clientScript = """
    import socket, sys, time, selectors
    source, server, port, count, wait = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    selector = selectors.DefaultSelector()
    sockets = []
    for _ in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((source, 0))
        s.connect_ex((server, port))
        selector.register(s, selectors.EVENT_WRITE)
        sockets.append(s)
    accepted, pending, deadline = 0, len(sockets), time.monotonic() + wait
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        for key, _ in selector.select(left):
            selector.unregister(key.fileobj)
            pending -= 1
            if key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                accepted += 1
    for s in sockets:
        s.close()
    print(accepted)
    """

    @Test func rulesetPassesNftCheckAndABrokenOneDoesNot() throws {
        let lab = try Lab()
        let check = try lab.inServer([lab.nft, "-c", "-f", DeployFiles.path("nftables.conf")])
        #expect(check.status == 0, "\(check.error)")
        let folder = try TemporaryDirectory()
        let broken = try folder.write("broken.conf", try DeployFiles.text("nftables.conf")
            .replacingOccurrences(of: "policy drop;", with: "policy dorp;"))
        let refused = try lab.inServer([lab.nft, "-c", "-f", broken])
        #expect(refused.status != 0)
        #expect(refused.error.contains("broken.conf"))
    }

    /// 100 simultaneous new connections from one address: the burst (30) gets through and
    /// the rest are dropped, while another address still connects; a banned address does
    /// not; reloading the file keeps the ban.
    @Test func rateLimitDropsAFloodingSourceAndAdmitsAnother() throws {
        let lab = try Lab()
        try lab.must([lab.ip, "netns", "exec", lab.server, lab.nft, "-f", DeployFiles.path("nftables.conf")])
        try lab.listen()

        let flood = try lab.attempts(from: "10.77.0.2", count: 100)
        let other = try lab.attempts(from: "10.77.0.3", count: 5)
        #expect(flood >= 20 && flood <= 40, "the flooding source got \(flood) of 100 through")
        #expect(other == 5, "the other source got \(other) of 5 through")
        let counters = try lab.inServer([lab.nft, "list", "chain", "inet", "mtshield_filter", "input"]).text
        let meterRule = counters.split(separator: "\n").first { $0.contains("@proxy_new_v4") }.map(String.init) ?? ""
        let dropped = meterRule.range(of: "counter packets ").flatMap { Int(meterRule[$0.upperBound...].prefix { $0.isNumber }) }
        #expect((dropped ?? 0) >= 100 - flood, "the rate-limit rule counted \(String(describing: dropped)) drops")
        print("nftables rate limit: flooding source \(flood)/100 admitted, \(dropped ?? -1) dropped by the meter; other source \(other)/5 admitted")

        try lab.must([lab.ip, "netns", "exec", lab.server, lab.nft, "add", "element", "inet", "mtshield", "addr4", "{ 10.77.0.4 timeout 5m }"])
        #expect(try lab.attempts(from: "10.77.0.4", count: 3) == 0)
        #expect(try lab.attempts(from: "10.77.0.5", count: 3) == 3)
        try lab.must([lab.ip, "netns", "exec", lab.server, lab.nft, "-f", DeployFiles.path("nftables.conf")])
        let set = try lab.inServer([lab.nft, "list", "set", "inet", "mtshield", "addr4"]).text
        #expect(set.contains("10.77.0.4"))
    }

    /// The checklist's firewall item reads the ruleset as loaded (through `nft list ruleset`
    /// in the namespace) and passes it for a proxy on 443 with stats on loopback.
    @Test func firewallCheckPassesTheLoadedRuleset() throws {
        let lab = try Lab()
        try lab.must([lab.ip, "netns", "exec", lab.server, lab.nft, "-f", DeployFiles.path("nftables.conf")])
        let host = try FakeHost()
        let auditor = try host.directory.write("auditor.yaml", "blockers:\n  - nftables: { table: mtshield }\n")
        var context = host.context(auditorConfig: auditor)
        let (ip, server) = (lab.ip, lab.server)
        context.runCommand = { argv in
            let result = try? run([ip, "netns", "exec", server] + argv)
            return CheckCommandOutput(exitStatus: result?.status, standardOutput: result?.text ?? "", standardError: result?.error ?? "")
        }
        let outcome = host.outcome("firewall", context)
        #expect(outcome.status == .pass, "\(outcome.detail)")
        #expect(outcome.detail.contains("open to all: tcp/22, tcp/443"))
    }
}

enum SecureRandomTag {
    static func make() -> String {
        (0..<4).map { _ in String(UInt8.random(in: 0...255), radix: 16) }.joined()
    }
}
