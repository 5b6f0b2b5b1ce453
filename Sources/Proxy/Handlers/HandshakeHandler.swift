import EventLog
import NIOCore

/// Where a refused client goes: `FrontingRoute` splices it to the fronting site with
/// `consumed` (every byte read so far) replayed first, `ClosingFailureRoute` closes.
/// Called by the handler that refused, from its own context; the route may replace it.
protocol HandshakeFailureRoute {
    /// - Parameter inputClosed: the client already sent EOF after `consumed`.
    func route(context: ChannelHandlerContext, reason: String, consumed: ByteBuffer, inputClosed: Bool)
}

struct ClosingFailureRoute: HandshakeFailureRoute {
    func route(context: ChannelHandlerContext, reason: String, consumed: ByteBuffer, inputClosed: Bool) {
        context.close(promise: nil)
    }
}

/// Drives `HandshakeStateMachine` on the client channel: reads the init packet under the
/// handshake timeout, reports the outcome, opens the DC leg, sends the DC header, then
/// replaces itself with the glued `RelayHandler` pair.
final class HandshakeHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var machine: HandshakeStateMachine
    private let session: ProxySession
    private let connector: any UpstreamConnecting
    private let failureRoute: any HandshakeFailureRoute
    private var inputClosed = false

    /// - Parameter secrets: the keys to try (default: every configured secret).
    init(
        session: ProxySession,
        deadline: NIODeadline,
        insideFakeTLS: Bool = false,
        secrets: [ProxySecret]? = nil,
        connector: any UpstreamConnecting,
        failureRoute: any HandshakeFailureRoute = ClosingFailureRoute()
    ) {
        self.session = session
        self.machine = HandshakeStateMachine(
            settings: session.settings, deadline: deadline, insideFakeTLS: insideFakeTLS, secrets: secrets)
        self.connector = connector
        self.failureRoute = failureRoute
    }

    func handlerAdded(context: ChannelHandlerContext) {
        session.watchHandshake(deadline: machine.deadline, owner: self) { [self] in
            perform(machine.timerFired(now: context.eventLoop.now), context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        session.stopWatchingHandshake(owner: self)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        perform(machine.received(unwrapInboundIn(data), now: context.eventLoop.now), context: context)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            inputClosed = true
            perform(machine.inputClosed(), context: context)
            // A failure route may have replaced this handler and taken the EOF with it.
            guard (try? context.pipeline.syncOperations.context(handler: self)) != nil else { return }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        inputClosed = true
        perform(machine.inputClosed(), context: context)
        session.noteCloseReason(EventReason.clientClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    /// While the DC leg opens, reading goes on up to a bound (`HandshakeStateMachine`):
    /// pausing and resuming would cost two `epoll_ctl` calls per connection.
    func read(context: ChannelHandlerContext) {
        if machine.wantsInput {
            context.read()
        }
    }

    private func perform(_ action: HandshakeStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none, .readMore:
            break
        case .fail(let reason, let consumed):
            session.stopWatchingHandshake(owner: self)
            session.handshakeFailed(reason: reason)
            failureRoute.route(context: context, reason: reason, consumed: consumed, inputClosed: inputClosed)
        case .connect(let handshake, let transport, let targets):
            session.stopWatchingHandshake(owner: self)
            session.handshakeSucceeded(secretName: handshake.secret.name, transport: transport, dc: handshake.dc)
            let session = self.session
            connector.connect(to: targets, on: context.eventLoop) { reason in
                session.upstreamFailed(reason: reason)
            }.assumeIsolated().whenComplete { [self] result in
                switch result {
                case .success(let upstream):
                    startRelay(context: context, handshake: handshake, upstream: upstream)
                case .failure:
                    session.noteCloseReason(EventReason.upstreamFailed)
                    context.close(promise: nil)
                }
            }
        }
    }

    private func startRelay(context: ChannelHandlerContext, handshake: ClientHandshake, upstream: Channel) {
        guard context.channel.isActive else {
            upstream.close(promise: nil)
            return
        }
        session.upstreamChannel = upstream
        let header = UpstreamHandshake(tag: handshake.tag, dc: handshake.dc, fastModeReply: (handshake.replyKey, handshake.replyIV))
        let cipher = ClientToUpstreamCipher(decryptor: handshake.decryptor, encryptor: header.encryptor)
        let (client, dcSide) = RelayHandler.pair(session: session, cipher: cipher)
        do {
            try upstream.pipeline.syncOperations.addHandler(dcSide)
            try context.pipeline.syncOperations.addHandler(client, position: .after(self))
        } catch {
            session.end(reason: EventReason.upstreamFailed)
            return
        }
        upstream.write(ByteBuffer(bytes: header.header), promise: nil)
        let (remainder, inputClosed) = machine.relayStarted()
        if let remainder, remainder.readableBytes > 0 {
            client.relayEarlyClientBytes(remainder, now: context.eventLoop.now)
        }
        upstream.flush()
        if inputClosed {
            client.relayEarlyEOF()
        }
        session.startIdleTimer()
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        try? upstream.syncOptions?.setOption(.autoRead, value: true)
        if !inputClosed {
            context.channel.read()
        }
    }
}
