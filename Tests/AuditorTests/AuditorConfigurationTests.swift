@testable import Auditor
import ConfigFile
import EventLog
import Testing

@Suite struct AuditorConfigurationTests {
    @Test func shippedExampleDecodesWithEveryKey() throws {
        let configuration = try AuditorConfiguration.load(path: TestFiles.packageRoot + "/deploy/mtauditor.example.yaml")
        #expect(configuration.sources == ["/var/log/mtshield/events.jsonl"])
        #expect(configuration.rules == "/etc/mtshield/rules")
        #expect(configuration.state == "/var/lib/mtshield/auditor.sqlite")
        #expect(configuration.allowlist == [CIDR("192.0.2.10/32")!])
        #expect(configuration.blockers == [.proxy(path: "/var/lib/mtshield/blocklist.txt"), .nftables(table: "mtshield")])
        #expect(configuration.reports == "/var/lib/mtshield/reports")
        #expect(configuration.simulation == false)
        #expect(configuration.metricsListen == .init(host: "127.0.0.1", port: 3002))
        #expect(configuration.bans.durationMilliseconds == 3_600_000)
        #expect(configuration.bans.maximumMilliseconds == 7 * 86_400_000)
    }

    @Test func defaultsWhenOnlySourcesAreGiven() throws {
        let configuration = try AuditorConfiguration.decode(yaml: "sources: [\"-\"]\n", file: "a.yaml")
        #expect(configuration.sources == ["-"])
        #expect(configuration == {
            var expected = AuditorConfiguration()
            expected.sources = ["-"]
            return expected
        }())
    }

    @Test func nullsTurnStateAndMetricsOff() throws {
        let configuration = try AuditorConfiguration.decode(yaml: """
            sources: [/tmp/e.jsonl]
            state: null
            metrics: { listen: null }
            blockers:
              - exec: { ban: "/usr/bin/logger ban {value} {seconds}", unban: [/usr/bin/logger, unban, "{value}"] }
            """, file: "a.yaml")
        #expect(configuration.state == nil)
        #expect(configuration.metricsListen == nil)
        #expect(configuration.blockers == [.exec(ban: ["/usr/bin/logger", "ban", "{value}", "{seconds}"],
                                                 unban: ["/usr/bin/logger", "unban", "{value}"])])
    }

    @Test func ipv6MetricsAddress() throws {
        let configuration = try AuditorConfiguration.decode(yaml: "sources: [a]\nmetrics: { listen: \"[::1]:9000\" }\n", file: "a.yaml")
        #expect(configuration.metricsListen == .init(host: "::1", port: 9000))
        #expect(configuration.metricsListen?.description == "[::1]:9000")
    }

    /// Each case: a file, and the error it must produce (`file:line: key: message` prefix).
    static let invalid: [(yaml: String, error: String)] = [
        ("rules: /x\n", "a.yaml:1: sources: required key is missing"),
        ("sources: /x\n", "a.yaml:1: sources: expected a list, found a scalar"),
        ("sources: []\n", "a.yaml:1: sources: name at least one event file"),
        ("sources: [a, a]\n", "a.yaml:1: sources[1]: \"a\" is listed twice"),
        ("sources: [a]\nsimulaton: true\n", "a.yaml:2: simulaton: unknown key (did you mean simulation?)"),
        ("sources: [a]\nsimulation: yes\n", "a.yaml:2: simulation: expected true or false, found \"yes\""),
        ("sources: [a]\nallowlist: [10.0.0.1/8]\n", "a.yaml:2: allowlist[0]: expected an address or network"),
        ("sources: [a]\nblockers: [{ proxy: {} }]\n", "a.yaml:2: blockers[0].proxy.path: required key is missing"),
        ("sources: [a]\nblockers:\n  - proxy: { path: /b, mode: x }\n", "a.yaml:3: blockers[0].proxy.mode: unknown key"),
        ("sources: [a]\nblockers:\n  - iptables: { chain: x }\n", "a.yaml:3: blockers[0].iptables: unknown blocker"),
        ("sources: [a]\nblockers:\n  - { proxy: { path: /a }, nftables: {} }\n", "a.yaml:3: blockers[0]: each blocker is a mapping with one key"),
        ("sources: [a]\nblockers:\n  - nftables: { table: \"bad name\" }\n", "a.yaml:3: blockers[0].nftables.table: expected a table name"),
        ("sources: [a]\nblockers:\n  - exec: { ban: \"block {value}\" }\n", "a.yaml:3: blockers[0].exec.ban: the program must be an absolute path"),
        ("sources: [a]\nblockers:\n  - exec: { ban: [/bin/true] }\n", "a.yaml:3: blockers[0].exec.ban: no argument names {value}"),
        ("sources: [a]\nblockers:\n  - proxy: { path: /a }\n  - proxy: { path: /b }\n", "a.yaml:4: blockers[1].proxy: a proxy blocker is listed twice"),
        ("sources: [a]\nmetrics: { listen: \"localhost:3002\" }\n", "a.yaml:2: metrics.listen: expected an IP address and port"),
        ("sources: [a]\nmetrics: { listen: \"::1:3002\" }\n", "a.yaml:2: metrics.listen: expected an IP address and port such as 127.0.0.1:3002 or [::1]:3002 (an IPv6 address in brackets)"),
        ("sources: [a]\nmetrics: { listen: \"127.0.0.1:70000\" }\n", "a.yaml:2: metrics.listen: expected an IP address and port"),
        ("sources: [a]\nmetrics: { port: 1 }\n", "a.yaml:2: metrics.port: unknown key"),
        ("sources: [a]\nbans: { duration: 8d }\n", "a.yaml:2: bans.duration: longer than bans.maximum (7d)"),
        ("sources: [a]\nbans: { maximum: forever }\n", "a.yaml:2: bans.maximum: expected a duration"),
        ("sources: [a]\npoll_interval: 0s\n", "a.yaml:2: poll_interval: must be between 1ms and 10s"),
        ("sources: [a]\nstate: [x]\n", "a.yaml:2: state: expected a string, found a list"),
        ("sources: [a]\nreports: {}\n", "a.yaml:2: reports: expected a string"),
        ("sources: [a\n", "a.yaml:2: not valid YAML"),
    ]

    @Test(arguments: invalid)
    func invalidFileNamesLineAndKey(yaml: String, error expected: String) {
        #expect {
            _ = try AuditorConfiguration.decode(yaml: yaml, file: "a.yaml")
        } throws: { error in
            let text = (error as? ConfigError)?.description ?? ""
            if !text.hasPrefix(expected) { print("expected \(expected)\n     got \(text)") }
            return text.hasPrefix(expected)
        }
    }

    @Test func everyIndependentProblemIsListed() throws {
        let (_, errors) = AuditorConfiguration.decode(try ConfigDocument.parse(yaml: """
            sources: []
            simulation: maybe
            bans: { maximum: 1x }
            """, file: "a.yaml"))
        #expect(errors.sorted.map(\.line) == [1, 2, 3])
    }

    /// Any bytes at all: an error or a configuration, never a crash.
    @Test(arguments: 0..<200)
    func arbitraryTextNeverCrashes(seed: Int) {
        var generator = SplitMix(seed: UInt64(seed))
        let pieces = ["sources:", " [a, b]", "\n", "blockers:", "  - ", "proxy:", " { path: /x }", "exec:", " {", "}", "[", "]",
                      "metrics:", " listen: ", "\"[::1]:1\"", "bans:", " duration: ", "5m", "&a ", "*a", "\t", "\u{0}", "é", ":", "-"]
        var text = ""
        for _ in 0..<Int(generator.next() % 40) { text += pieces[Int(generator.next() % UInt64(pieces.count))] }
        _ = try? AuditorConfiguration.decode(yaml: text, file: "fuzz.yaml")
    }
}

struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
