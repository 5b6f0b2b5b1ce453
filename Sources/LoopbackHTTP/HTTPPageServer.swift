import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A small HTTP/1 listener for read-only pages (`mtproxy`'s `stats.listen`, `mtauditor`'s
/// `metrics.listen`), meant for a loopback address: `GET` and `HEAD` of the paths in its
/// `HTTPRoutes`. A `Service`: `run()` binds, serves until graceful shutdown, then closes
/// the listener. `start()` / `stop()` do the same by hand (tests, or binding early to
/// fail on a taken port before anything else starts).
public final class HTTPPageServer: Service {
    private enum State {
        case idle
        case starting
        case listening(any Channel)
        case stopped
    }

    public let host: String
    public let port: Int
    private let routes: HTTPRoutes
    private let setting: String
    private let group: any EventLoopGroup
    private let logger: Logger
    private let idleTimeout: TimeAmount
    private let state = Mutex<State>(.idle)

    /// - Parameters:
    ///   - host: an IP address literal; a loopback address keeps the pages off the network.
    ///   - port: 0 binds any free port (tests); `localAddress` then tells which.
    ///   - setting: the configuration key of the address (`stats.listen`), the metadata key
    ///     of its log lines.
    ///   - idleTimeout: a connection that sends nothing for this long is closed.
    public init(host: String, port: Int, routes: HTTPRoutes, setting: String, logger: Logger,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
                idleTimeout: TimeAmount = .seconds(30)) {
        self.host = host
        self.port = port
        self.routes = routes
        self.setting = setting
        self.group = group
        self.logger = logger
        self.idleTimeout = idleTimeout
    }

    /// The bound address once listening.
    public var localAddress: SocketAddress? {
        state.withLock { if case .listening(let channel) = $0 { channel.localAddress } else { nil } }
    }

    /// Binds and starts answering; returns the bound address. Calling it again while
    /// listening returns the same address; after `stop()` it throws.
    @discardableResult
    public func start() async throws -> SocketAddress {
        enum Next { case bind, listening(any Channel), refuse }
        let next = state.withLock { state -> Next in
            switch state {
            case .idle:
                state = .starting
                return .bind
            case .listening(let channel):
                return .listening(channel)
            case .starting, .stopped:
                return .refuse
            }
        }
        switch next {
        case .bind: break
        case .listening(let channel):
            if let address = channel.localAddress { return address }
            throw ChannelError.ioOnClosedChannel
        case .refuse:
            throw ChannelError.ioOnClosedChannel
        }

        let routes = self.routes
        let idleTimeout = self.idleTimeout
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.backlog, value: 64)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        try pipeline.addHandler(IdleStateHandler(readTimeout: idleTimeout))
                        try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
                        try pipeline.addHandler(HTTPPageHandler(routes: routes))
                    }
                }
                .bind(host: host, port: port).get()
        } catch {
            state.withLock { $0 = .idle }
            logger.error("Cannot listen for HTTP pages.", metadata: [setting: "\(host):\(port)", "error": "\(error)"])
            throw error
        }

        let keep = state.withLock { state -> Bool in
            guard case .starting = state else { return false }
            state = .listening(channel)
            return true
        }
        guard keep else {
            try? await channel.close()
            throw ChannelError.ioOnClosedChannel
        }
        let address = try channel.localAddress ?? SocketAddress(ipAddress: host, port: port)
        logger.info("HTTP pages listening.", metadata: [setting: "\(address)", "http.paths": "\(routes.paths.joined(separator: ","))"])
        return address
    }

    /// Closes the listener. Idempotent.
    public func stop() async {
        let channel = state.withLock { state -> (any Channel)? in
            defer { state = .stopped }
            if case .listening(let channel) = state { return channel }
            return nil
        }
        try? await channel?.close()
    }

    public func run() async throws {
        if case .idle = state.withLock({ $0 }) {
            try await start()
        }
        // Returns on graceful shutdown; throws CancellationError when cancelled: stop either way.
        try? await gracefulShutdown()
        await stop()
    }
}
