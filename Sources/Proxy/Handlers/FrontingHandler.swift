import EventLog
import NIOCore

/// Sends a refused client to the fronting site (PROTOCOL.md §5): the handler that refused
/// is replaced by a `FrontingHandler`, which connects, replays every byte already read and
/// then splices both directions, so a prober talks to the real site from its first byte.
struct FrontingRoute: HandshakeFailureRoute {
    let session: ProxySession
    let targets: [UpstreamTarget]
    let connector: any UpstreamConnecting

    func route(context: ChannelHandlerContext, reason: String, consumed: ByteBuffer, inputClosed: Bool) {
        guard context.channel.isActive else {
            context.close(promise: nil)
            return
        }
        let fronting = FrontingHandler(
            session: session, reason: reason, consumed: consumed, inputClosed: inputClosed,
            targets: targets, connector: connector)
        do {
            try context.pipeline.syncOperations.addHandler(fronting, position: .after(context.handler))
        } catch {
            context.close(promise: nil)
            return
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}

/// Holds the client while the fronting site's connection opens, then glues the two with
/// a cipherless `RelayHandler` pair (back-pressure, half-close and the idle timeout as for
/// a Telegram session) and leaves. `probe.forwarded` is written once the site is reached;
/// if it cannot be reached the client is closed.
final class FrontingHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let session: ProxySession
    private let reason: String
    private let targets: [UpstreamTarget]
    private let connector: any UpstreamConnecting
    private var pending: ByteBuffer
    private var inputClosed: Bool

    init(session: ProxySession, reason: String, consumed: ByteBuffer, inputClosed: Bool,
         targets: [UpstreamTarget], connector: any UpstreamConnecting) {
        self.session = session
        self.reason = reason
        self.pending = consumed
        self.inputClosed = inputClosed
        self.targets = targets
        self.connector = connector
    }

    func handlerAdded(context: ChannelHandlerContext) {
        connector.connect(to: targets, on: context.eventLoop) { _ in }.assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let site):
                splice(context: context, site: site)
            case .failure:
                context.close(promise: nil)
            }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        pending.writeImmutableBuffer(unwrapInboundIn(data))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            inputClosed = true
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    /// Nothing more is read until the site can take it.
    func read(context: ChannelHandlerContext) {}

    private func splice(context: ChannelHandlerContext, site: Channel) {
        guard context.channel.isActive else {
            site.close(promise: nil)
            return
        }
        session.probeForwarded(reason: reason)
        session.upstreamChannel = site
        let (client, siteSide) = RelayHandler.pair(session: session, cipher: nil)
        do {
            try site.pipeline.syncOperations.addHandler(siteSide)
            try context.pipeline.syncOperations.addHandler(client, position: .after(self))
        } catch {
            session.end(reason: reason)
            return
        }
        if pending.readableBytes > 0 {
            client.relayEarlyClientBytes(pending, now: context.eventLoop.now)
        }
        site.flush()
        if inputClosed {
            client.relayEarlyEOF()
        }
        session.startIdleTimer()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        try? site.syncOptions?.setOption(.autoRead, value: true)
        if !inputClosed {
            context.channel.read()
        }
    }
}
