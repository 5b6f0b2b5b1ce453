import EventLog
import Logging
import LoopbackHTTP
import NIOCore
import NIOPosix

/// The `stats.listen` HTTP listener: `/stats` and `/metrics` from `StatsEndpoint`.
public typealias StatsServer = HTTPPageServer

extension HTTPPageServer {
    /// - Parameters:
    ///   - host: an IP address literal; `127.0.0.1` (the default of `stats.listen`) keeps
    ///     the counters off the network.
    ///   - port: 0 binds any free port (tests); `localAddress` then tells which.
    ///   - idleTimeout: a connection that sends nothing for this long is closed.
    public convenience init(host: String, port: Int, stats: ProxyStats, logger: Logger,
                            group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                            idleTimeout: TimeAmount = .seconds(30),
                            now: @escaping @Sendable () -> Int64 = Event.nowMilliseconds,
                            blocklist: BlocklistStore? = nil, process: (@Sendable () -> ProcessUsage?)? = nil) {
        let endpoint = StatsEndpoint(stats: stats, now: now, blocklist: blocklist, process: process)
        self.init(host: host, port: port, routes: endpoint.routes, setting: "stats.listen", logger: logger,
                  group: group, idleTimeout: idleTimeout)
    }

    /// From `stats.listen` as parsed by the configuration.
    public convenience init(listen: HostAndPort, stats: ProxyStats, logger: Logger,
                            group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                            blocklist: BlocklistStore? = nil, process: (@Sendable () -> ProcessUsage?)? = nil) {
        self.init(host: listen.host, port: listen.port, stats: stats, logger: logger, group: group,
                  blocklist: blocklist, process: process)
    }
}
