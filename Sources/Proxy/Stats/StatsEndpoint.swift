import EventLog
import LoopbackHTTP
import NIOHTTP1

/// What the stats listener answers, decided without any channel: `GET`/`HEAD` of
/// `/stats` (JSON) and `/metrics` (Prometheus text); 404 for any other path, 405 for
/// any other method.
public struct StatsEndpoint: Sendable {
    public typealias Response = HTTPPage

    public static let jsonContentType = "application/json; charset=utf-8"
    public static let prometheusContentType = HTTPPage.prometheusContentType

    public let stats: ProxyStats
    public let version: String
    private let now: @Sendable () -> Int64
    private let blocklist: BlocklistStore?
    private let process: (@Sendable () -> ProcessUsage?)?

    /// - Parameters:
    ///   - blocklist: its entry count is reported; nil: the `blocklist` key is left out.
    ///   - process: samples resource use per request (`ProcessUsage.current`); nil: left out.
    public init(stats: ProxyStats, version: String = ProxyLibrary.version,
                now: @escaping @Sendable () -> Int64 = Event.nowMilliseconds,
                blocklist: BlocklistStore? = nil, process: (@Sendable () -> ProcessUsage?)? = nil) {
        self.stats = stats
        self.version = version
        self.now = now
        self.blocklist = blocklist
        self.process = process
    }

    public var routes: HTTPRoutes {
        HTTPRoutes([
            "/stats": { HTTPPage(contentType: Self.jsonContentType, body: report().json()) },
            "/metrics": { HTTPPage(contentType: Self.prometheusContentType, body: report().prometheusText()) },
        ])
    }

    /// The response to `method` on `uri`; a query string is ignored. For `HEAD` the body
    /// is the one `GET` would send: the handler sends only its length.
    public func response(method: HTTPMethod, uri: String) -> Response {
        routes.page(method: method, uri: uri)
    }

    private func report() -> StatsReport {
        var report = StatsReport(snapshot: stats.snapshot(), nowMilliseconds: now(), version: version)
        report.blocklistEntries = blocklist.map { store in
            let counts = store.blocklist.counts
            return counts.addresses + counts.networks + counts.hashes
        }
        report.process = process?()
        return report
    }
}
