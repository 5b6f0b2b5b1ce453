@testable import Auditor
import EventLog
import Foundation
import Testing

/// A network namespace of the test's own (`ip netns add mtshield-test-…`): nft runs only
/// inside it, never on the host's ruleset. `delete()` removes it; call it in a `defer`.
/// Without `ip` or `nft` the tests fail: CI installs both (Makefile `test-deps`).
struct NetworkNamespace {
    let name: String

    init() throws {
        name = "mtshield-test-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        try run(["ip", "netns", "add", name])
        try execute(["ip", "link", "set", "lo", "up"])
    }

    func delete() { _ = try? run(["ip", "netns", "delete", name]) }

    /// The argument vector prefix that runs a program inside the namespace.
    var prefix: [String] { ["ip", "netns", "exec", name] }

    @discardableResult
    func execute(_ argv: [String]) throws -> String { try run(prefix + argv) }

    /// nft inside the namespace, off the cooperative pool.
    func nft(_ arguments: [String]) async throws -> String {
        let result = try await ChildProcess.runOffloaded(prefix + ["nft"] + arguments, timeout: .seconds(60))
        try #require(result.succeeded, "nft \(arguments.joined(separator: " ")): \(result.failure)")
        return String(decoding: result.output, as: UTF8.self)
    }
}

/// Runs a program to its end; throws with its standard error when it fails.
@discardableResult
func run(_ argv: [String], input: String? = nil) throws -> String {
    let process = Process()
    let paths = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    guard let executable = paths.map({ "\($0)/\(argv[0])" }).first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
        throw TestFailure("\(argv[0]) is not installed (make test installs nftables and iproute2)")
    }
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = Array(argv.dropFirst())
    let output = Pipe()
    let errors = Pipe()
    let standardInput = Pipe()
    process.standardOutput = output
    process.standardError = errors
    process.standardInput = standardInput
    try process.run()
    if let input { standardInput.fileHandleForWriting.write(Data(input.utf8)) }
    try standardInput.fileHandleForWriting.close()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        throw TestFailure("\(argv.joined(separator: " ")) exited with \(process.terminationStatus): \(errorText)")
    }
    return text
}

@Suite(.serialized) struct NFTablesBlockerTests {
    /// Elements of one set, as `nft -j` lists them: value → timeout in seconds (nil: none).
    func elements(_ namespace: NetworkNamespace, set: String) async throws -> [String: Int?] {
        let json = try await namespace.nft(["-j", "list", "set", "inet", "mtshield", set])
        let root = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let items = try #require(root["nftables"] as? [[String: Any]])
        let body = try #require(items.compactMap { $0["set"] as? [String: Any] }.first)
        var result: [String: Int?] = [:]
        for element in body["elem"] as? [Any] ?? [] {
            var value: Any = element
            var timeout: Int?
            if let wrapped = (element as? [String: Any])?["elem"] as? [String: Any] {
                value = wrapped["val"] as Any
                timeout = wrapped["timeout"] as? Int
            }
            if let prefix = (value as? [String: Any])?["prefix"] as? [String: Any], let address = prefix["addr"] as? String,
               let length = prefix["len"] as? Int {
                result["\(address)/\(length)"] = timeout
            } else if let address = value as? String {
                result[address] = timeout
            }
        }
        return result
    }

    /// Tries a TCP connection from each source address to a listener inside the namespace;
    /// "open" or "blocked" (no answer within the deadline) per source.
    func reachability(_ namespace: NetworkNamespace, from sources: [String]) async throws -> [String: String] {
        let script = """
            import json, socket, sys
            v4 = socket.socket(socket.AF_INET); v4.bind(("127.0.0.1", 0)); v4.listen(64)
            v6 = socket.socket(socket.AF_INET6); v6.bind(("::1", 0)); v6.listen(64)
            result = {}
            for source in sys.argv[1:]:
                family, target = (socket.AF_INET6, ("::1", v6.getsockname()[1])) if ":" in source else (socket.AF_INET, ("127.0.0.1", v4.getsockname()[1]))
                client = socket.socket(family)
                client.settimeout(3)
                client.bind((source, 0))
                try:
                    client.connect(target)
                    result[source] = "open"
                except socket.timeout:
                    result[source] = "blocked"
                except OSError as error:
                    result[source] = "error: %s" % error
                client.close()
            print(json.dumps(result))
            """
        // Seconds of waiting for blocked connections: off the cooperative pool, so other suites keep running.
        let result = try await ChildProcess.runOffloaded(namespace.prefix + ["python3", "-c", script] + sources, timeout: .seconds(120))
        try #require(result.succeeded, "python3 in the namespace: \(result.failure)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.output)) as? [String: String])
    }

    func blocker(_ namespace: NetworkNamespace) throws -> NFTablesBlocker {
        try NFTablesBlocker(table: "mtshield", command: namespace.prefix + ["nft"])
    }

    // Timeouts of an hour or more: on a loaded machine the test itself may last minutes.
    @Test func setsElementsAndTimeoutsAreInstalled() async throws {
        let hostBefore = try run(["nft", "list", "ruleset"])
        let namespace = try NetworkNamespace()
        defer { namespace.delete() }
        let blocker = try blocker(namespace)
        let now = Event.nowMilliseconds()
        try await blocker.synchronize(active: [decision("192.0.2.1", created: now, until: now + 3_600_000),
                                               decision("198.51.100.0/24", created: now, until: now + 7_200_000),
                                               decision("198.51.100.128/25", created: now, until: now + 9_000_000),
                                               decision("2001:db8::1", created: now, until: now + 4_800_000),
                                               decision("2001:db8:1::/48", created: now, until: now + 6_000_000)], now: now)
        try await blocker.apply(added: [decision("192.0.2.2", created: now, until: now + 5_400_000)], removed: [], now: now)
        let addr4 = try await elements(namespace, set: "addr4")
        #expect(Set(addr4.keys) == ["192.0.2.1", "192.0.2.2"])
        #expect(addr4["192.0.2.1"] == 3600)
        #expect(addr4["192.0.2.2"] == 5400)
        // The nested /25 is covered by the /24, which lasts as long as the longer of the two.
        #expect(try await elements(namespace, set: "net4") == ["198.51.100.0/24": 9000])
        #expect(try await elements(namespace, set: "addr6") == ["2001:db8::1": 4800])
        #expect(try await elements(namespace, set: "net6") == ["2001:db8:1::/48": 6000])
        let chain = try await namespace.nft(["list", "chain", "inet", "mtshield", "input"])
        #expect(chain.contains("ip saddr @addr4 drop"))
        #expect(chain.contains("ip6 saddr @net6 drop"))

        // A lift removes the element; a re-ban takes its new timeout.
        try await blocker.apply(added: [decision("192.0.2.2", created: now, until: now + 1_800_000)],
                                removed: [decision("192.0.2.1", created: now, until: now + 3_600_000)], now: now)
        #expect(try await elements(namespace, set: "addr4") == ["192.0.2.2": 1800])
        // Lifting what the kernel no longer holds is not an error.
        try await blocker.apply(added: [], removed: [decision("192.0.2.77", created: now, until: now + 60_000)], now: now)
        #expect(try run(["nft", "list", "ruleset"]) == hostBefore)
    }

    @Test func aBannedAddressCannotConnectWhileAnotherCan() async throws {
        let namespace = try NetworkNamespace()
        defer { namespace.delete() }
        for address in ["2001:db8::5", "2001:db8::6"] {
            try namespace.execute(["ip", "-6", "addr", "add", "\(address)/128", "dev", "lo", "nodad"])
        }
        let blocker = try blocker(namespace)
        let now = Event.nowMilliseconds()
        try await blocker.synchronize(active: [], now: now)
        let sources = ["127.0.0.5", "127.0.0.6", "127.0.1.9", "2001:db8::5", "2001:db8::6"]
        #expect(try await reachability(namespace, from: sources).values.allSatisfy { $0 == "open" })

        try await blocker.apply(added: [decision("127.0.0.5", created: now, until: now + 600_000),
                                        decision("127.0.1.0/24", created: now, until: now + 600_000),
                                        decision("2001:db8::5", created: now, until: now + 600_000)], removed: [], now: now)
        #expect(try await reachability(namespace, from: sources) == [
            "127.0.0.5": "blocked", "127.0.0.6": "open", "127.0.1.9": "blocked", "2001:db8::5": "blocked", "2001:db8::6": "open",
        ])

        try await blocker.apply(added: [], removed: [decision("127.0.0.5", created: now, until: now + 600_000)], now: now)
        #expect(try await reachability(namespace, from: ["127.0.0.5", "127.0.1.9"]) == ["127.0.0.5": "open", "127.0.1.9": "blocked"])
    }

    @Test func anElementLeavesTheKernelWhenItsTimeoutRunsOut() async throws {
        let namespace = try NetworkNamespace()
        defer { namespace.delete() }
        let blocker = try blocker(namespace)
        let now = Event.nowMilliseconds()
        try await blocker.synchronize(active: [decision("192.0.2.1", created: now, until: now + 1_000),
                                               decision("192.0.2.2", created: now, until: now + 600_000)], now: now)
        let deadline = ContinuousClock.now + .seconds(30)
        while try await elements(namespace, set: "addr4").keys.contains("192.0.2.1"), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(Set(try await elements(namespace, set: "addr4").keys) == ["192.0.2.2"])
    }

    @Test func refusedValuesAreNamedAndTheRestApplies() async throws {
        let namespace = try NetworkNamespace()
        defer { namespace.delete() }
        let blocker = try blocker(namespace)
        let now = Event.nowMilliseconds()
        try await blocker.synchronize(active: [decision("10.1.0.0/16", created: now, until: now + 600_000)], now: now)
        let error = await #expect(throws: AuditorError.self) {
            try await blocker.apply(added: [decision("10.0.0.0/8", created: now, until: now + 600_000),
                                            decision("192.0.2.1", created: now, until: now + 600_000),
                                            decision("192.0.2.2", created: now, until: now + 600_000)], removed: [], now: now)
        }
        guard case .blocker(let name, _, let values) = error else {
            Issue.record("expected a blocker error, got \(String(describing: error))")
            return
        }
        #expect(name == "nftables")
        #expect(values == ["10.0.0.0/8"])
        #expect(Set(try await elements(namespace, set: "addr4").keys) == ["192.0.2.1", "192.0.2.2"])
    }

    @Test func aMissingTableIsAWholeFailureThatSynchronizingRepairs() async throws {
        let namespace = try NetworkNamespace()
        defer { namespace.delete() }
        let blocker = try blocker(namespace)
        let now = Event.nowMilliseconds()
        let error = await #expect(throws: AuditorError.self) {
            try await blocker.apply(added: [decision("192.0.2.1", created: now, until: now + 600_000),
                                            decision("192.0.2.2", created: now, until: now + 600_000)], removed: [], now: now)
        }
        guard case .blocker(_, _, let values) = error else {
            Issue.record("expected a blocker error")
            return
        }
        #expect(values.isEmpty)

        let blockers = BlockerSet(blockers: [blocker])
        await blockers.start(active: [decision("192.0.2.3", created: now, until: now + 600_000)])
        #expect(await blockers.statuses.first?.failures == 0)
        #expect(Set(try await elements(namespace, set: "addr4").keys) == ["192.0.2.3"])
    }

    /// The statements of a script, in order, with their verb, set and elements.
    func statements(_ script: String) -> [String] {
        script.split(separator: "\n").map { line in
            line.replacingOccurrences(of: "element inet mtshield ", with: "").replacingOccurrences(of: " timeout ", with: "@")
        }
    }

    @Test func aNewValueTakesOneAddAndOnlyValuesThatMayBeThereAreDeletedFirst() throws {
        let blocker = try NFTablesBlocker(table: "mtshield", command: ["false"], timeout: .seconds(9))
        let now: Int64 = 10_000_000
        let changes = NFTablesBlocker.changes(added: [decision("192.0.2.1", created: now, until: now + 3_600_000),
                                                      decision("192.0.2.2", created: now, until: now + 3_600_000),
                                                      decision("192.0.2.3", created: now, until: now + 3_600_000),
                                                      decision("2001:db8::1", created: now, until: now + 60_000)],
                                              removed: [decision("192.0.2.9", created: now - 1, until: now + 600_000)], now: now)
        // Never synchronized: anything may be in the sets, so every value is deleted before it is added.
        #expect(statements(blocker.script(for: changes, now: now)) == [
            "add addr4 { 192.0.2.9, 192.0.2.1, 192.0.2.2, 192.0.2.3 }", "add addr6 { 2001:db8::1 }",
            "delete addr4 { 192.0.2.9, 192.0.2.1, 192.0.2.2, 192.0.2.3 }", "delete addr6 { 2001:db8::1 }",
            "add addr4 { 192.0.2.1@1h, 192.0.2.2@1h, 192.0.2.3@1h }", "add addr6 { 2001:db8::1@1m }",
        ])

        // Rebuilt with 192.0.2.1 (in force), 192.0.2.2 (expired 5 s ago: within the 10 s
        // margin of a commit's delay) and 192.0.2.3 (expired a minute ago: surely gone).
        let addr4 = { NFTablesBlocker.target($0)! }
        blocker.ledger.rebuilt([(addr4("192.0.2.1"), now + 60_000), (addr4("192.0.2.2"), now - 5_000), (addr4("192.0.2.3"), now - 60_000)])
        #expect(statements(blocker.script(for: changes, now: now)) == [
            "add addr4 { 192.0.2.9, 192.0.2.1, 192.0.2.2 }",
            "delete addr4 { 192.0.2.9, 192.0.2.1, 192.0.2.2 }",
            "add addr4 { 192.0.2.1@1h, 192.0.2.2@1h, 192.0.2.3@1h }", "add addr6 { 2001:db8::1@1m }",
        ])
    }

    @Test func oneValueWrittenTwoWaysIsOneChangeAndTheBanWins() {
        let now: Int64 = 10_000_000
        let changes = NFTablesBlocker.changes(added: [decision("192.0.2.1/32", created: now, until: now + 60_000)],
                                              removed: [decision("192.0.2.1", created: now, until: now + 60_000)], now: now)
        #expect(changes.map(\.value) == ["192.0.2.1/32"])
        #expect(changes.first?.until == now + 60_000)
    }

    @Test func theLedgerFollowsBansLiftsAndFailures() async throws {
        let namespace = try NetworkNamespace()
        defer { namespace.delete() }
        let blocker = try blocker(namespace)
        let now = Event.nowMilliseconds()
        try await blocker.synchronize(active: [decision("192.0.2.1", created: now, until: now + 3_600_000)], now: now)
        // A new value (one add), a value already there (delete and add: its longer timeout takes
        // effect on every kernel), a network, a lift.
        try await blocker.apply(added: [decision("192.0.2.1", created: now, until: now + 7_200_000),
                                        decision("192.0.2.2", created: now, until: now + 5_400_000),
                                        decision("198.51.100.0/24", created: now, until: now + 3_600_000)], removed: [], now: now)
        #expect(try await elements(namespace, set: "addr4") == ["192.0.2.1": 7200, "192.0.2.2": 5400])
        #expect(try await elements(namespace, set: "net4") == ["198.51.100.0/24": 3600])
        #expect(blocker.ledger.count == 3)
        try await blocker.apply(added: [], removed: [decision("192.0.2.1", created: now, until: now + 7_200_000)], now: now)
        #expect(try await elements(namespace, set: "addr4") == ["192.0.2.2": 5400])
        #expect(blocker.ledger.read { $0.mayHold(NFTablesBlocker.target("192.0.2.1")!, now: now, margin: 0) } == false)

        // The table deleted behind the blocker's back: a whole failure; the ledger knows nothing
        // until a synchronization, so nothing is assumed absent.
        _ = try await namespace.nft(["delete", "table", "inet", "mtshield"])
        await #expect(throws: AuditorError.self) {
            try await blocker.apply(added: [decision("192.0.2.3", created: now, until: now + 600_000),
                                            decision("192.0.2.4", created: now, until: now + 600_000)], removed: [], now: now)
        }
        #expect(blocker.ledger.read { $0.mayHold(NFTablesBlocker.target("192.0.2.9")!, now: now, margin: 0) })
        try await blocker.synchronize(active: [decision("192.0.2.3", created: now, until: now + 600_000)], now: now)
        #expect(try await elements(namespace, set: "addr4") == ["192.0.2.3": 600])
        #expect(blocker.ledger.read { $0.mayHold(NFTablesBlocker.target("192.0.2.9")!, now: now, margin: 0) } == false)
    }

    @Test func tableNamesAndDurationsAreChecked() throws {
        #expect(throws: AuditorError.self) { try NFTablesBlocker(table: "mt shield; flush ruleset") }
        #expect(throws: AuditorError.self) { try NFTablesBlocker(table: "") }
        #expect(NFTablesBlocker.duration(90_061_001) == "1d1h1m1s1ms")
        #expect(NFTablesBlocker.duration(3_600_000) == "1h")
        #expect(NFTablesBlocker.timeoutClause(until: 400 * 86_400_000, now: 0) == "")
    }
}
