import EventLog
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import MTCrypto
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The proxy's listeners as a `Service`: binds every `listen` address, applies the
/// accept-time policy, runs the obfuscated2 handshake and relays to Telegram's DCs.
///
/// Call `bind()` first when privileges must be dropped after binding (it is idempotent);
/// `run()` binds if needed and serves until graceful shutdown, then stops accepting, lets
/// sessions drain for up to `drainTimeout` and closes the rest. `update(configuration:)`
/// applies a reload to new connections.
public final class ProxyService: Service, Sendable {
    public enum Failure: Error, CustomStringConvertible, Sendable {
        case invalidListenAddress(String, expected: String)
        case bindFailed(listen: String, reason: String)

        public var description: String {
            switch self {
            case .invalidListenAddress(let text, let expected):
                "listen: \(text): expected \(expected)"
            case .bindFailed(let listen, let reason):
                "listen: \(listen): cannot bind: \(reason)"
            }
        }
    }

    private struct State {
        var settings: ProxySettings
        /// Every listening socket: one per event loop for each `listen` address.
        var listeners: [Channel] = []
        /// One per `listen` address, in order.
        var boundAddresses: [SocketAddress] = []
        var bound = false
        var accepting = true
        var sessions: [ObjectIdentifier: NIOLoopBound<ProxySession>] = [:]
    }

    private let state: Mutex<State>
    private let blocklist: BlocklistStore?
    private let events: any EventSink
    private let stats: ProxyStats
    private let logger: Logger
    private let group: any EventLoopGroup
    private let clock: ProxyClock
    private let drainTimeout: Duration
    private let limiter = ConnectionLimiter()

    /// - Parameters:
    ///   - blocklist: consulted for every accepted connection; nil: nothing is blocked.
    ///   - group: event loops for listeners and both legs of every session.
    ///   - clock: wall clock for event timestamps and durations.
    ///   - drainTimeout: how long sessions may continue after shutdown begins.
    public init(
        configuration: ProxyConfiguration,
        blocklist: BlocklistStore?,
        events: any EventSink,
        stats: ProxyStats,
        logger: Logger,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        clock: ProxyClock = .system,
        drainTimeout: Duration = .seconds(10)
    ) {
        self.state = Mutex(State(settings: ProxySettings(configuration)))
        self.blocklist = blocklist
        self.events = events
        self.stats = stats
        self.logger = logger
        self.group = group
        self.clock = clock
        self.drainTimeout = drainTimeout
    }

    /// Binds every `listen` address (IPv4 and IPv6) and returns the bound addresses, in
    /// `listen` order (port 0 becomes the real port). Binding again returns the same.
    /// Connections are accepted only once `run()` starts.
    @discardableResult
    public func bind() async throws -> [SocketAddress] {
        let (settings, existing) = state.withLock { ($0.settings, $0.bound ? $0.boundAddresses : nil) }
        if let existing {
            return existing
        }
        var channels: [Channel] = []
        var addresses: [SocketAddress] = []
        do {
            for text in settings.configuration.listen {
                switch HostAndPort.parse(text, allowName: false, allowAnyPort: true) {
                case .success(let endpoint):
                    let sockets = try await bindListeners(endpoint, text: text)
                    channels += sockets
                    if let address = sockets.first?.localAddress { addresses.append(address) }
                case .failure(let problem): throw Failure.invalidListenAddress(text, expected: problem.description)
                }
            }
        } catch {
            for channel in channels { try? await channel.close() }
            throw error
        }
        state.withLock {
            $0.listeners = channels
            $0.boundAddresses = addresses
            $0.bound = true
        }
        for (text, address) in zip(settings.configuration.listen, addresses) {
            logger.info("listening", metadata: ["proxy.listener": "\(text)", "proxy.bound": "\(address)"])
        }
        return addresses
    }

    /// One listening socket per event loop, sharing the address through SO_REUSEPORT, each
    /// keeping the connections it accepts on its own loop: accept, both legs of a session
    /// and their timers never hop threads, which is most of what a connection set-up
    /// costs beyond the kernel's work.
    private func bindListeners(_ endpoint: HostAndPort, text: String) async throws -> [Channel] {
        let loops = Array(group.makeIterator())
        let shared = loops.count > 1
        var channels: [Channel] = []
        do {
            if shared, endpoint.port != 0 {
                // SO_REUSEPORT would let a second proxy on the same port take half the
                // clients silently: bind once without it first, so that fails as before.
                try await makeListenerBootstrap(endpoint, text: text, on: loops[0], shared: false)
                    .bind(host: endpoint.host, port: endpoint.port).get().close()
            }
            var port = endpoint.port
            for loop in loops {
                let channel = try await makeListenerBootstrap(endpoint, text: text, on: loop, shared: shared)
                    .bind(host: endpoint.host, port: port).get()
                channels.append(channel)
                port = channel.localAddress?.port ?? port
            }
            return channels
        } catch {
            for channel in channels { try? await channel.close() }
            throw Failure.bindFailed(listen: text, reason: "\(error)")
        }
    }

    private func makeListenerBootstrap(_ endpoint: HostAndPort, text: String, on loop: EventLoop, shared: Bool) -> ServerBootstrap {
        var bootstrap = ServerBootstrap(group: loop, childGroup: loop)
            .serverChannelOption(.backlog, value: 4096)
            // Bound but not accepting until `run()`: the kernel queues clients meanwhile.
            .serverChannelOption(.autoRead, value: false)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] channel in
                RelayReadSizing.configure(channel, autoRead: true) { [self] in
                    accept(channel, listener: text)
                }
            }
        if shared {
            bootstrap = bootstrap.serverChannelOption(
                ChannelOptions.Types.SocketOption(level: .socket, name: NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: 1)
        }
        if endpoint.host.contains(":") {
            // Lets "[::]:P" and "0.0.0.0:P" both bind, as the default `listen` does.
            bootstrap = bootstrap.serverChannelOption(ChannelOptions.Types.SocketOption(level: .ipv6, name: .ipv6_v6only), value: 1)
        }
        return bootstrap
    }

    /// Serves until graceful shutdown (or cancellation, which skips the drain).
    public func run() async throws {
        let addresses = try await bind()
        let instance = state.withLock { $0.settings.instance }
        var started = Event(timestampMilliseconds: clock.milliseconds(), action: .proxyStarted, instance: instance)
        started.labels["listen"] = addresses.map { "\($0)" }.joined(separator: ",")
        events.emit(started)
        let listeners = state.withLock { $0.listeners }
        for listener in listeners {
            try await listener.setOption(ChannelOptions.autoRead, value: true).get()
        }

        var cancelled = false
        do {
            try await gracefulShutdown()
        } catch {
            cancelled = true
        }
        await stop(drain: cancelled ? .zero : drainTimeout)
        events.emit(Event(timestampMilliseconds: clock.milliseconds(), action: .proxyStopped, instance: instance))
    }

    /// New connections use `configuration` (secrets, transports, limits, DC table); running
    /// sessions keep what they started with. Listen addresses change only on restart.
    public func update(configuration: ProxyConfiguration) {
        let settings = ProxySettings(configuration, previous: state.withLock { $0.settings })
        let previousListen = state.withLock { state in
            let previous = state.settings.configuration.listen
            state.settings = settings
            return previous
        }
        if previousListen != configuration.listen {
            logger.notice(
                "listen addresses changed; restart mtproxy to apply them",
                metadata: ["proxy.listen.running": "\(previousListen)", "proxy.listen.configured": "\(configuration.listen)"]
            )
        }
        logger.info("configuration applied to new connections", metadata: ["proxy.secrets": "\(configuration.secrets.count)"])
    }

    /// Sessions currently open (accepted and not yet closed).
    public var openSessions: Int {
        state.withLock { $0.sessions.count }
    }

    private func stop(drain: Duration) async {
        let listeners = state.withLock { state in
            state.accepting = false
            return state.listeners
        }
        for listener in listeners {
            try? await listener.close()
        }
        let clock = ContinuousClock()
        let deadline = clock.now + drain
        while openSessions > 0, clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        let remaining = state.withLock { Array($0.sessions.values) }
        if !remaining.isEmpty {
            logger.notice("closing sessions still open after the drain", metadata: ["proxy.sessions": "\(remaining.count)"])
        }
        for bound in remaining {
            bound.eventLoop.execute {
                bound.value.end(reason: EventReason.shutdown)
            }
        }
        let closeDeadline = clock.now + .seconds(2)
        while openSessions > 0, clock.now < closeDeadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    // MARK: Accept

    /// Runs on the new channel's event loop before any byte is read.
    private func accept(_ channel: Channel, listener: String) {
        let (settings, accepting) = state.withLock { ($0.settings, $0.accepting) }
        let remote = channel.remoteAddress
        guard accepting, let remote, let source = IPAddress(remote) else {
            try? channel.pipeline.syncOperations.addHandler(ImmediateClose())
            return
        }
        func reject(_ reason: String) {
            stats.connectionRejected(reason: reason)
            events.emit(Event(
                timestampMilliseconds: clock.milliseconds(), action: .connectionRejected, outcome: .failure,
                reason: reason, sourceIP: source.description, sourcePort: remote.port,
                sessionID: SecureRandom8.hex(), instance: settings.instance, listener: listener
            ))
            try? channel.pipeline.syncOperations.addHandler(ImmediateClose())
        }
        if let blocklist, blocklist.blocks(source) {
            return reject(EventReason.blocklisted)
        }
        let limits = settings.limits
        if case .rejected(let reason) = limiter.admit(source, maxConnections: limits.maxConnections, maxConnectionsPerIP: limits.maxConnectionsPerIP) {
            return reject(reason)
        }

        let session = ProxySession(
            settings: settings, events: events, stats: stats, clock: clock,
            source: source, sourcePort: remote.port, listener: listener, clientChannel: channel
        )
        let key = ObjectIdentifier(channel)
        state.withLock { $0.sessions[key] = NIOLoopBound(session, eventLoop: channel.eventLoop) }
        session.accepted()
        channel.closeFuture.assumeIsolated().whenComplete { [self] _ in
            limiter.release(source)
            state.withLock { _ = $0.sessions.removeValue(forKey: key) }
            session.finish(defaultReason: EventReason.clientClosed)
        }
        do {
            try channel.pipeline.syncOperations.addHandler(ClientHelloHandler.firstHandler(
                session: session,
                deadline: channel.eventLoop.now + settings.handshakeTimeout,
                connector: UpstreamConnector(connectTimeout: settings.connectTimeout)
            ))
        } catch {
            channel.close(promise: nil)
        }
    }
}

/// Closes a refused connection as soon as it is active, before anything is read.
private final class ImmediateClose: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { context.close(promise: nil) }
    }

    func channelActive(context: ChannelHandlerContext) {
        context.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {}
}

private enum SecureRandom8 {
    static func hex() -> String { SecureRandom.bytes(8).hexString }
}
