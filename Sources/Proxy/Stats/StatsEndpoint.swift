import EventLog
import NIOHTTP1

/// What the stats listener answers, decided without any channel: `GET`/`HEAD` of
/// `/stats` (JSON) and `/metrics` (Prometheus text); 404 for any other path, 405 for
/// any other method.
public struct StatsEndpoint: Sendable {
    public struct Response: Sendable, Hashable {
        public var status: HTTPResponseStatus
        public var contentType: String
        public var body: [UInt8]
        /// `Allow`, on 405.
        public var allow: String?
    }

    public static let jsonContentType = "application/json; charset=utf-8"
    public static let prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"
    private static let textContentType = "text/plain; charset=utf-8"

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

    /// The response to `method` on `uri`; a query string is ignored. For `HEAD` the body
    /// is the one `GET` would send: the handler sends only its length.
    public func response(method: HTTPMethod, uri: String) -> Response {
        let path = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? uri
        guard method == .GET || method == .HEAD else {
            return Response(status: .methodNotAllowed, contentType: Self.textContentType,
                            body: Array("Only GET and HEAD.\n".utf8), allow: "GET, HEAD")
        }
        switch path {
        case "/stats":
            return Response(status: .ok, contentType: Self.jsonContentType, body: report().json())
        case "/metrics":
            return Response(status: .ok, contentType: Self.prometheusContentType, body: report().prometheusText())
        default:
            return Response(status: .notFound, contentType: Self.textContentType,
                            body: Array("Not found. Try /stats or /metrics.\n".utf8))
        }
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
