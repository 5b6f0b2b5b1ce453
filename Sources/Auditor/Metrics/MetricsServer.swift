import Logging
import LoopbackHTTP
import NIOCore
import NIOPosix

/// `metrics.listen`: answers `GET /metrics` with the Prometheus text.
public typealias MetricsServer = HTTPPageServer

extension HTTPPageServer {
    public convenience init(host: String, port: Int, metrics: AuditorMetrics, logger: Logger,
                            group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.init(host: host, port: port, routes: metrics.routes, setting: "metrics.listen", logger: logger, group: group)
    }
}

extension AuditorMetrics {
    /// What `metrics.listen` serves: `/metrics`, read afresh on every request.
    public var routes: HTTPRoutes {
        HTTPRoutes([
            "/metrics": { HTTPPage(contentType: HTTPPage.prometheusContentType, body: self.exposition()) },
        ])
    }
}
