import Foundation
import Testing
@testable import Proxy

/// `mtproxy monitor`'s view, from two recorded `/stats` documents two seconds apart.
@Suite struct MonitorTests {
    static let first = """
    {
      "blocklist" : { "entries" : 42 },
      "bytes" : { "in" : 1048576, "out" : 4194304 },
      "connections" : { "active" : 10, "total" : 100 },
      "dcs" : { "2" : { "bytes_in" : 1, "bytes_out" : 2, "sessions_active" : 1, "sessions_total" : 3, "upstream_failures" : 0 } },
      "events_dropped" : 0,
      "handshake_failures" : { "bad_secret" : 5, "timeout" : 1 },
      "probes_forwarded" : 2,
      "process" : { "cpu_seconds" : 10.0, "open_files" : 30, "rss_bytes" : 20971520, "threads" : 6 },
      "rejections" : { "blocklisted" : 7 },
      "transports" : { "classic" : { "active" : 0, "total" : 0 }, "faketls" : { "active" : 4, "total" : 40 }, "secure" : { "active" : 6, "total" : 60 } },
      "uptime_seconds" : 3725,
      "version" : "0.1.0"
    }
    """
    static let second = """
    {
      "blocklist" : { "entries" : 43 },
      "bytes" : { "in" : 3145728, "out" : 4194304 },
      "connections" : { "active" : 12, "total" : 110 },
      "events_dropped" : 0,
      "handshake_failures" : { "bad_secret" : 9, "timeout" : 1 },
      "probes_forwarded" : 2,
      "process" : { "cpu_seconds" : 10.5, "open_files" : 31, "rss_bytes" : 20971520, "threads" : 6 },
      "rejections" : { "blocklisted" : 8 },
      "transports" : { "classic" : { "active" : 0, "total" : 0 }, "faketls" : { "active" : 5, "total" : 45 }, "secure" : { "active" : 7, "total" : 65 } },
      "uptime_seconds" : 3727,
      "version" : "0.1.0"
    }
    """

    @Test func rendersRatesBetweenTwoReadings() throws {
        let before = try StatsReading(json: Array(Self.first.utf8), readAtMilliseconds: 1_000_000)
        let after = try StatsReading(json: Array(Self.second.utf8), readAtMilliseconds: 1_002_000)
        let lines = MonitorScreen(source: "http://127.0.0.1:3001/stats", current: after, previous: before).lines()
        #expect(lines == [
            "mtproxy 0.1.0  up 1h2m7s  http://127.0.0.1:3001/stats",
            "",
            "connections active 12   total 110   new 5.0/s",
            "sessions    classic 0 (0)   faketls 5 (45)   secure 7 (65)",
            "traffic     in 1.0 MiB/s   out 0 B/s   total in 3.0 MiB, out 4.0 MiB",
            "failures    bad_secret 9 (2.0/s)   timeout 1 (0.0/s)",
            "rejections  blocklisted 8 (0.5/s)",
            "bans        43 blocklist entries   blocklisted 8",
            "probes      forwarded 2",
            "process     rss 20.0 MiB   cpu 25.0%   cpu time 10.5s   threads 6   fds 31",
            "events      dropped 0",
        ])
    }

    @Test func oneReadingHasTotalsAndNoRates() throws {
        let reading = try StatsReading(json: Array(Self.first.utf8), readAtMilliseconds: 0)
        let lines = MonitorScreen(source: "s", current: reading, previous: nil).lines()
        #expect(lines[2] == "connections active 10   total 100   new -/s")
        #expect(lines[5] == "failures    bad_secret 5   timeout 1")
        #expect(lines[9] == "process     rss 20.0 MiB   cpu -   cpu time 10.0s   threads 6   fds 30")
    }

    @Test func aRestartBetweenReadingsShowsNoNegativeRates() throws {
        let before = try StatsReading(json: Array(Self.second.utf8), readAtMilliseconds: 0)
        var after = try StatsReading(json: Array(Self.first.utf8), readAtMilliseconds: 2000)
        after.uptimeSeconds = 1
        let lines = MonitorScreen(source: "s", current: after, previous: before).lines()
        #expect(lines[2].hasSuffix("new -/s"))
    }

    @Test func anOlderProxyWithoutTheNewKeysStillRenders() throws {
        let reading = try StatsReading(json: Array(#"{"connections":{"active":1,"total":2},"version":"0.0.9"}"#.utf8),
                                       readAtMilliseconds: 0)
        let lines = MonitorScreen(source: "s", current: reading, previous: nil).lines()
        #expect(lines.contains("bans        unknown (proxy does not report its blocklist)   blocklisted 0"))
        #expect(lines.contains("process     unknown (proxy does not report it)"))
    }

    @Test(arguments: ["", "[]", "not json", "{\"connections\": 5}"])
    func badDocumentsAreRefusedOrReadAsZero(text: String) {
        if let reading = try? StatsReading(json: Array(text.utf8), readAtMilliseconds: 0) {
            #expect(reading.connectionsTotal == 0)
        }
    }

    /// What /stats itself sends is what the monitor reads.
    @Test func readsTheProxysOwnDocument() throws {
        let stats = ProxyStats(startedAtMilliseconds: 0)
        stats.connectionOpened()
        stats.handshakeFailed(reason: "bad_secret")
        var report = StatsReport(snapshot: stats.snapshot(), nowMilliseconds: 5000)
        report.blocklistEntries = 3
        report.process = ProcessUsage(residentBytes: 4096, cpuSeconds: 1.5, threads: 2, openFiles: 9)
        let reading = try StatsReading(json: report.json(), readAtMilliseconds: 0)
        #expect(reading.connectionsActive == 1)
        #expect(reading.handshakeFailures == ["bad_secret": 1])
        #expect(reading.blocklistEntries == 3)
        #expect(reading.process == ProcessUsage(residentBytes: 4096, cpuSeconds: 1.5, threads: 2, openFiles: 9))
        #expect(reading.uptimeSeconds == 5)
    }

    @Test func processUsageParsesProcSelf() throws {
        let stat = "1234 (mt proxy) S 1 1234 1234 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 7 0 100 123456 789 18446744073709551615"
        let usage = try #require(ProcessUsage.parse(stat: stat, statm: "30000 5000 1000 10 0 2000 0\n", pageSize: 4096,
                                                    ticksPerSecond: 100, openFiles: 12))
        #expect(usage == ProcessUsage(residentBytes: 5000 * 4096, cpuSeconds: 3.0, threads: 7, openFiles: 12))
        #expect(ProcessUsage.parse(stat: "garbage", statm: "", pageSize: 4096, ticksPerSecond: 100, openFiles: 0) == nil)
        #expect(ProcessUsage.current() != nil)
    }
}
