import EventLog
import Foundation
import NIOHTTP1
import Testing
@testable import Proxy

@Suite struct StatsTests {
    static let started: Int64 = 1_700_000_000_000
    static let secretHex = "ee00112233445566778899aabbccddeeff7777772e6578616d706c652e636f6d"

    /// Stats as a busy proxy would leave them, including reasons that must not leak.
    static func busyStats() -> ProxyStats {
        let stats = ProxyStats(startedAtMilliseconds: started)
        for _ in 0..<5 { stats.connectionOpened() }
        stats.connectionClosed()
        stats.connectionRejected(reason: EventReason.ipLimit)
        stats.connectionRejected(reason: EventReason.blocklisted)
        stats.connectionRejected(reason: "203.0.113.7")
        stats.handshakeFailed(reason: EventReason.badSecret)
        stats.handshakeFailed(reason: EventReason.badSecret)
        stats.handshakeFailed(reason: secretHex)
        stats.probeForwarded()
        stats.sessionStarted(transport: .faketls, dc: 2)
        stats.sessionStarted(transport: .faketls, dc: 2)
        stats.sessionStarted(transport: .secure, dc: -4)
        stats.sessionEnded(transport: .faketls, dc: 2)
        stats.upstreamFailed(dc: 5)
        stats.bytesRelayed(dc: 2, fromClient: 1000, toClient: 70_000)
        stats.bytesRelayed(dc: -4, fromClient: 24, toClient: 30)
        stats.eventsDropped(3)
        return stats
    }

    static var report: StatsReport {
        StatsReport(snapshot: busyStats().snapshot(), nowMilliseconds: started + 90_500, version: "9.9.9")
    }

    @Test func countsByTransportReasonAndDC() {
        let snapshot = Self.busyStats().snapshot()
        #expect(snapshot.connectionsActive == 4 && snapshot.connectionsTotal == 5)
        #expect(snapshot.activeByTransport == [.faketls: 1, .secure: 1])
        #expect(snapshot.totalByTransport == [.faketls: 2, .secure: 1])
        #expect(snapshot.rejectionsByReason == ["ip_limit": 1, "blocklisted": 1, "other": 1])
        #expect(snapshot.handshakeFailuresByReason == ["bad_secret": 2, "other": 1])
        #expect(snapshot.byDC[2] == ProxyStats.DCCounters(sessionsActive: 1, sessionsTotal: 2, upstreamFailures: 0,
                                                           bytesFromClients: 1000, bytesToClients: 70_000))
        #expect(snapshot.byDC[5]?.upstreamFailures == 1)
        #expect(snapshot.bytesFromClients == 1024 && snapshot.bytesToClients == 70_030)
        #expect(snapshot.eventsDropped == 3)
    }

    @Test(arguments: ["bad_secret", "tls_skew", "other"])
    func vocabularyReasonsAreKept(reason: String) {
        #expect(ProxyStats.reasonLabel(reason) == reason)
    }

    @Test(arguments: ["", "203.0.113.7", "2001:db8::1", secretHex, "Bad_Secret", "a\"b", String(repeating: "a", count: 33)])
    func anythingElseIsOther(reason: String) {
        #expect(ProxyStats.reasonLabel(reason) == "other")
    }

    @Test func dcIdsAreBounded() {
        let stats = ProxyStats(startedAtMilliseconds: 0)
        for dc in 0..<1000 { stats.sessionStarted(transport: .secure, dc: dc) }
        let snapshot = stats.snapshot()
        #expect(snapshot.byDC.count == ProxyStats.maximumDCs)
        #expect(snapshot.totalByTransport[.secure] == 1000)
    }

    @Test func statsDocument() throws {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(Self.report.json())) as? [String: Any])
        #expect(object["version"] as? String == "9.9.9")
        #expect(object["uptime_seconds"] as? Int == 90)
        #expect(object["connections"] as? [String: Int] == ["active": 4, "total": 5])
        let transports = try #require(object["transports"] as? [String: [String: Int]])
        #expect(transports["faketls"] == ["active": 1, "total": 2])
        #expect(transports["classic"] == ["active": 0, "total": 0])
        #expect(object["handshake_failures"] as? [String: Int] == ["bad_secret": 2, "other": 1])
        #expect(object["rejections"] as? [String: Int] == ["ip_limit": 1, "blocklisted": 1, "other": 1])
        #expect(object["probes_forwarded"] as? Int == 1)
        #expect(object["bytes"] as? [String: Int] == ["in": 1024, "out": 70_030])
        let dcs = try #require(object["dcs"] as? [String: [String: Int]])
        #expect(dcs["2"] == ["sessions_active": 1, "sessions_total": 2, "upstream_failures": 0,
                             "bytes_in": 1000, "bytes_out": 70_000])
        #expect(dcs["-4"]?["bytes_out"] == 30)
        #expect(object["events_dropped"] as? Int == 3)
    }

    @Test func metricsPage() throws {
        let text = String(decoding: Self.report.prometheusText(), as: UTF8.self)
        try Self.checkExpositionFormat(text)
        let lines = Set(text.split(separator: "\n").map(String.init))
        for expected in [
            "# TYPE mtproxy_connections_active gauge",
            "mtproxy_connections_active 4",
            "# TYPE mtproxy_connections_total counter",
            "mtproxy_connections_total 5",
            "mtproxy_sessions_active{transport=\"faketls\"} 1",
            "mtproxy_sessions_total{transport=\"classic\"} 0",
            "# TYPE mtproxy_handshake_failures_total counter",
            "mtproxy_handshake_failures_total{reason=\"bad_secret\"} 2",
            "mtproxy_handshake_failures_total{reason=\"other\"} 1",
            "mtproxy_connections_rejected_total{reason=\"ip_limit\"} 1",
            "mtproxy_probes_forwarded_total 1",
            "mtproxy_bytes_total{direction=\"in\"} 1024",
            "mtproxy_bytes_total{direction=\"out\"} 70030",
            "mtproxy_dc_sessions_active{dc=\"2\"} 1",
            "mtproxy_dc_sessions_total{dc=\"-4\"} 1",
            "mtproxy_dc_upstream_failures_total{dc=\"5\"} 1",
            "mtproxy_dc_bytes_total{dc=\"2\",direction=\"out\"} 70000",
            "mtproxy_events_dropped_total 3",
            "mtproxy_uptime_seconds 90",
            "mtproxy_build_info{version=\"9.9.9\"} 1",
        ] {
            #expect(lines.contains(expected), "\(expected)")
        }
    }

    @Test func neitherPageShowsAnAddressOrASecret() {
        for page in [Self.report.json(), Self.report.prometheusText()] {
            let text = String(decoding: page, as: UTF8.self)
            #expect(!text.contains("203.0.113"))
            #expect(!text.contains(Self.secretHex))
            #expect(!text.contains("00112233"))
            #expect(text.firstMatch(of: /\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}/) == nil)
            #expect(text.firstMatch(of: /[0-9a-f]{16}/) == nil)
        }
    }

    @Test func labelValuesAreEscaped() {
        var text = PrometheusText()
        text.family("x_total", .counter, "Help with \\ and\nnewline.", [(["a": "q\"b\\n\nl"], 7)])
        #expect(text.output == "# HELP x_total Help with \\\\ and\\nnewline.\n# TYPE x_total counter\nx_total{a=\"q\\\"b\\\\n\\nl\"} 7\n")
    }

    @Test(arguments: [
        (HTTPMethod.GET, "/stats", HTTPResponseStatus.ok, StatsEndpoint.jsonContentType),
        (.HEAD, "/stats", .ok, StatsEndpoint.jsonContentType),
        (.GET, "/stats?pretty=1", .ok, StatsEndpoint.jsonContentType),
        (.GET, "/metrics", .ok, StatsEndpoint.prometheusContentType),
        (.GET, "/", .notFound, "text/plain; charset=utf-8"),
        (.GET, "/stats/", .notFound, "text/plain; charset=utf-8"),
        (.GET, "/../etc/passwd", .notFound, "text/plain; charset=utf-8"),
        (.POST, "/stats", .methodNotAllowed, "text/plain; charset=utf-8"),
        (.DELETE, "/metrics", .methodNotAllowed, "text/plain; charset=utf-8"),
    ])
    func routes(method: HTTPMethod, uri: String, status: HTTPResponseStatus, contentType: String) {
        let endpoint = StatsEndpoint(stats: Self.busyStats(), now: { Self.started })
        let response = endpoint.response(method: method, uri: uri)
        #expect(response.status == status)
        #expect(response.contentType == contentType)
        #expect((response.allow != nil) == (status == .methodNotAllowed))
    }

    @Test func anyMethodAndURIGetsAnAnswer() {
        let endpoint = StatsEndpoint(stats: Self.busyStats(), now: { Self.started })
        let methods: [HTTPMethod] = [.GET, .HEAD, .POST, .PUT, .OPTIONS, .RAW(value: "BREW")]
        var random = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let uri = String((0..<Int.random(in: 0...40, using: &random)).map { _ in
                Character(Unicode.Scalar(UInt8.random(in: 0x20...0x7E, using: &random)))
            })
            let method = methods.randomElement(using: &random)!
            let status = endpoint.response(method: method, uri: uri).status
            let expected: [HTTPResponseStatus] = method == .GET || method == .HEAD ? [.ok, .notFound] : [.methodNotAllowed]
            #expect(expected.contains(status), "\(method) \(uri)")
        }
    }

    /// Prometheus text format 0.0.4: HELP and TYPE before a family's samples, valid
    /// names and label syntax, integer values, each family declared once.
    static func checkExpositionFormat(_ text: String) throws {
        #expect(text.hasSuffix("\n"))
        var typed: [String: String] = [:]
        var helped: Set<String> = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).dropLast() {
            if let match = line.wholeMatch(of: /# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+/) {
                #expect(helped.insert(String(match.1)).inserted, "HELP twice: \(line)")
            } else if let match = line.wholeMatch(of: /# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)/) {
                #expect(helped.contains(String(match.1)), "TYPE before HELP: \(line)")
                #expect(typed.updateValue(String(match.2), forKey: String(match.1)) == nil, "TYPE twice: \(line)")
            } else {
                let sample = try #require(
                    line.wholeMatch(of: /([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:\\.|[^"\\])*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:\\.|[^"\\])*")*\})? -?[0-9]+/),
                    "not a sample line: \(line)")
                let name = String(sample.1)
                #expect(typed[name] != nil, "sample before TYPE: \(line)")
                if typed[name] == "counter" { #expect(name.hasSuffix("_total"), "\(name)") }
                #expect(name.hasPrefix("mtproxy_"))
            }
        }
    }
}
