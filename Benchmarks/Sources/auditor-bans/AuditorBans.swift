import ArgumentParser
import Auditor
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Bans per second through nftables: the real `NFTablesBlocker`, driven by a `BlockerSet`
/// as the daemon drives it, run inside a network namespace (Benchmarks/auditor/nft-bans.sh
/// creates and deletes it). It refuses to run anywhere else: it would change the host's ruleset.
@main
struct AuditorBans: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auditor-bans",
        abstract: "Apply N bans through NFTablesBlocker in batches and print bans per second.",
        discussion: "Run it as `ip netns exec NAME auditor-bans --namespace NAME`; see Benchmarks/auditor/README.md.")

    @Option(help: "The network namespace this process must be running in (checked against /run/netns/NAME).")
    var namespace: String

    @Option(help: "Distinct bans to apply: 90 % IPv4 addresses, 5 % IPv6 addresses, 5 % IPv4 /24 networks.")
    var count = 100_000

    @Option(help: "Bans per batch (one `nft -f -` call each).")
    var batch = 10_000

    @Option(help: "Bans applied again with a longer timeout afterwards (the refresh path).")
    var refreshes = 1_000

    @Option(help: "The nftables table the blocker owns.")
    var table = "mtshield"

    func validate() throws {
        guard count > 0, count <= 10_000_000, batch > 0, refreshes >= 0, refreshes <= count else {
            throw ValidationError("--count (at most 10,000,000) and --batch are positive, --refreshes at most --count")
        }
        var mine = stat()
        var named = stat()
        guard stat("/proc/self/ns/net", &mine) == 0, stat("/run/netns/\(namespace)", &named) == 0,
              mine.st_ino == named.st_ino, mine.st_dev == named.st_dev
        else {
            throw ValidationError("not running inside network namespace \(namespace): run `ip netns exec \(namespace) auditor-bans …`")
        }
    }

    func run() async throws {
        let blocker = try NFTablesBlocker(table: table, timeout: .seconds(300))
        let blockers = BlockerSet(blockers: [blocker])
        // The table exactly as the daemon sets it up: a synchronization with no decision in force.
        await blockers.start(active: [])
        try check(await blockers.statuses[0], "setting up the table")

        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let decisions = (0..<count).map { index in ban(Self.value(index), now: now, hours: 1) }
        let started = ContinuousClock.now
        let usageBefore = Usage()
        for start in stride(from: 0, to: count, by: batch) {
            await blockers.enforce(added: Array(decisions[start..<min(start + batch, count)]), removed: [])
        }
        let elapsed = started.duration(to: .now)
        let usage = Usage().minus(usageBefore)
        try check(await blockers.statuses[0], "applying the bans")
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print(String(format: "nftables bans: %d bans in batches of %d: %.2f s wall, %.0f bans/s; CPU: auditor %.2f s, nft %.2f s",
                     count, batch, seconds, Double(count) / seconds, usage.own, usage.children))

        if refreshes > 0 {
            let again = (0..<refreshes).map { ban(Self.value($0 * (count / refreshes)), now: now, hours: 2) }
            let refreshStarted = ContinuousClock.now
            for start in stride(from: 0, to: refreshes, by: batch) {
                await blockers.enforce(added: Array(again[start..<min(start + batch, refreshes)]), removed: [])
            }
            let refreshElapsed = refreshStarted.duration(to: .now)
            try check(await blockers.statuses[0], "refreshing bans")
            let refreshSeconds = Double(refreshElapsed.components.seconds) + Double(refreshElapsed.components.attoseconds) / 1e18
            print(String(format: "nftables refreshes: %d bans already in the sets, banned again for longer: %.2f s wall, %.0f bans/s",
                         refreshes, refreshSeconds, Double(refreshes) / refreshSeconds))
        }

        let (elements, longer) = try kernelElements()
        print("elements in the kernel: \(elements) of \(count), \(longer) with the refreshed timeout (of \(refreshes))")
        guard elements == count, longer == refreshes else { throw ValidationError("the kernel does not hold what was banned") }
    }

    /// The index-th distinct value: 18 of 20 IPv4 addresses, one IPv6 address, one IPv4 /24.
    static func value(_ index: Int) -> String {
        switch index % 20 {
        case 0: "2001:db8:\(String(index >> 16, radix: 16)):\(String(index & 0xFFFF, radix: 16))::1"
        case 1: "\(10 + (index >> 16)).\((index >> 8) & 255).\(index & 255).0/24"
        default: "100.\(64 + (index >> 16)).\((index >> 8) & 255).\(index & 255)"
        }
    }

    func ban(_ value: String, now: Int64, hours: Int64) -> Decision {
        Decision(value: value, scope: Decision.Scope(value: value)!, rule: "benchmark", reason: "benchmark", created: now,
                 until: now + hours * 3_600_000, repeatCount: 1)
    }

    func check(_ status: BlockerSet.BlockerStatus, _ step: String) throws {
        guard status.failures == 0, status.pending == 0 else {
            throw ValidationError("\(step): \(status.failures) failures, \(status.pending) pending: \(status.lastError ?? "")")
        }
    }

    /// Elements in the table's sets, and how many carry a timeout over an hour (the refreshed ones).
    func kernelElements() throws -> (Int, Int) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/nft")
        process.arguments = ["-j", "list", "table", "inet", table]
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0,
              let root = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let items = root["nftables"] as? [[String: Any]]
        else { throw ValidationError("nft -j list table inet \(table) failed") }
        var elements = 0
        var longer = 0
        for set in items.compactMap({ $0["set"] as? [String: Any] }) {
            for element in set["elem"] as? [Any] ?? [] {
                elements += 1
                if let timeout = ((element as? [String: Any])?["elem"] as? [String: Any])?["timeout"] as? Int, timeout > 3600 { longer += 1 }
            }
        }
        return (elements, longer)
    }
}

/// CPU seconds of this process and of its waited-for children (the nft runs).
struct Usage {
    var own: Double
    var children: Double

    init() {
        var mine = rusage()
        var theirs = rusage()
        getrusage(__rusage_who_t(truncatingIfNeeded: RUSAGE_SELF.rawValue), &mine)
        getrusage(__rusage_who_t(truncatingIfNeeded: RUSAGE_CHILDREN.rawValue), &theirs)
        own = Self.seconds(mine)
        children = Self.seconds(theirs)
    }

    private init(own: Double, children: Double) {
        self.own = own
        self.children = children
    }

    static func seconds(_ usage: rusage) -> Double {
        Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6 + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
    }

    func minus(_ earlier: Usage) -> Usage { Usage(own: own - earlier.own, children: children - earlier.children) }
}
