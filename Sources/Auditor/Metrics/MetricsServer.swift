import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// `metrics.listen`: answers `GET /metrics` with the Prometheus text. A `Service`:
/// `run()` binds, serves until graceful shutdown, then closes the listener.
public final class MetricsServer: Service {
    private enum State {
        case idle
        case listening(any Channel)
        case stopped
    }

    public let host: String
    public let port: Int
    private let metrics: AuditorMetrics
    private let group: any EventLoopGroup
    private let logger: Logger
    private let state = Mutex<State>(.idle)

    public init(host: String, port: Int, metrics: AuditorMetrics, logger: Logger,
                group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.host = host
        self.port = port
        self.metrics = metrics
        self.logger = logger
        self.group = group
    }

    /// The bound address once listening.
    public var localAddress: SocketAddress? {
        state.withLock { if case .listening(let channel) = $0 { channel.localAddress } else { nil } }
    }

    /// Binds; returns the bound address. Call before `run()` to fail early on a taken port.
    @discardableResult
    public func start() async throws -> SocketAddress {
        if let address = localAddress { return address }
        let metrics = self.metrics
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(IdleStateHandler(readTimeout: .seconds(30)))
                    try pipeline.configureHTTPServerPipeline(withErrorHandling: true)
                    try pipeline.addHandler(MetricsHTTPHandler(metrics: metrics))
                }
            }
            .bind(host: host, port: port).get()
        let keep = state.withLock { state -> Bool in
            guard case .idle = state else { return false }
            state = .listening(channel)
            return true
        }
        guard keep else {
            try? await channel.close()
            throw ChannelError.ioOnClosedChannel
        }
        let address = try channel.localAddress ?? SocketAddress(ipAddress: host, port: port)
        logger.info("metrics listening", metadata: ["metrics.listen": "\(address)"])
        return address
    }

    public func stop() async {
        let channel = state.withLock { state -> (any Channel)? in
            defer { state = .stopped }
            if case .listening(let channel) = state { return channel }
            return nil
        }
        try? await channel?.close()
    }

    public func run() async throws {
        if case .idle = state.withLock({ $0 }) { try await start() }
        try? await gracefulShutdown()
        await stop()
    }
}

/// `/metrics` on GET and HEAD; 404 elsewhere, 405 for other methods.
final class MetricsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let metrics: AuditorMetrics
    private var request: HTTPRequestHead?

    init(metrics: AuditorMetrics) {
        self.metrics = metrics
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): request = head
        case .body: break
        case .end:
            guard let head = request else { return }
            request = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        var headers = HTTPHeaders()
        let status: HTTPResponseStatus
        let body: [UInt8]
        if head.method != .GET && head.method != .HEAD {
            status = .methodNotAllowed
            body = Array("Only GET and HEAD.\n".utf8)
            headers.add(name: "Allow", value: "GET, HEAD")
            headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        } else if path == "/metrics" {
            status = .ok
            body = metrics.exposition()
            headers.add(name: "Content-Type", value: "text/plain; version=0.0.4; charset=utf-8")
        } else {
            status = .notFound
            body = Array("Not found. Try /metrics.\n".utf8)
            headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        }
        headers.add(name: "Content-Length", value: String(body.count))
        headers.add(name: "Cache-Control", value: "no-store")
        let keepAlive = head.isKeepAlive
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
        if !keepAlive {
            let context = NIOLoopBound(context, eventLoop: context.eventLoop)
            written.futureResult.whenComplete { _ in context.value.close(promise: nil) }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
