import EventLog
import NIOCore

/// The first handler of a connection on a proxy with `ee` secrets: drives
/// `FakeTLSHandshake` under the handshake timeout and hands the connection on.
///
/// - An authenticated, fresh hello: writes the ServerHello flight and replaces itself with
///   a `FakeTLSRecordHandler` followed by a `HandshakeHandler` for the obfuscated2
///   handshake inside the records (only the secret that signed the hello is tried).
/// - Bytes that are not TLS: a `HandshakeHandler` for plain obfuscated2 takes them over
///   when `classic` or `secure` is allowed; otherwise they are refused.
/// - Anything refused, a timeout or an early EOF: `handshake.failed`, then the failure
///   route (the fronting site, with every byte read replayed).
final class ClientHelloHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private var handshake: FakeTLSHandshake
    private let session: ProxySession
    private let deadline: NIODeadline
    private let connector: any UpstreamConnecting
    private let failureRoute: any HandshakeFailureRoute
    private var deciding = true

    init(session: ProxySession, deadline: NIODeadline, connector: any UpstreamConnecting, failureRoute: any HandshakeFailureRoute) {
        let settings = session.settings
        self.handshake = FakeTLSHandshake(secrets: settings.fakeTLSSecrets, settings: settings.fakeTLS, replayFilter: settings.replayFilter)
        self.session = session
        self.deadline = deadline
        self.connector = connector
        self.failureRoute = failureRoute
    }

    /// The handler a new connection starts with: this one when the proxy has `ee` secrets,
    /// else the obfuscated2 `HandshakeHandler`. Failures go to the fronting site when
    /// fronting is configured, else they are closed.
    static func firstHandler(session: ProxySession, deadline: NIODeadline, connector: any UpstreamConnecting) -> ChannelHandler {
        let settings = session.settings
        let route: any HandshakeFailureRoute = settings.frontingTargets.map {
            FrontingRoute(session: session, targets: $0, connector: UpstreamConnector(connectTimeout: settings.frontingConnectTimeout))
        } ?? ClosingFailureRoute()
        if settings.acceptsFakeTLS {
            return ClientHelloHandler(session: session, deadline: deadline, connector: connector, failureRoute: route)
        }
        return HandshakeHandler(session: session, deadline: deadline, connector: connector, failureRoute: route)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        session.watchHandshake(deadline: deadline, owner: self) { [self] in
            guard deciding else { return }
            fail(context: context, reason: EventReason.timeout, secretName: nil, consumed: handshake.bytesRead, inputClosed: false)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        session.stopWatchingHandshake(owner: self)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard deciding else { return }
        let unixTime = session.clock.milliseconds() / 1000
        switch handshake.received(unwrapInboundIn(data), unixTime: unixTime, now: context.eventLoop.now) {
        case .readMore:
            break
        case .notTLS(let consumed):
            notTLS(context: context, consumed: consumed)
        case .fail(let reason, let secret, let consumed):
            fail(context: context, reason: reason, secretName: secret?.name, consumed: consumed, inputClosed: false)
        case .reply(let flight, let hello, let trailing):
            reply(context: context, flight: flight, hello: hello, trailing: trailing)
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if deciding, let event = event as? ChannelEvent, event == .inputClosed {
            fail(context: context, reason: EventReason.closedEarly, secretName: nil, consumed: handshake.bytesRead, inputClosed: true)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if deciding {
            deciding = false
            session.stopWatchingHandshake(owner: self)
            session.handshakeFailed(reason: EventReason.closedEarly)
        }
        session.noteCloseReason(EventReason.clientClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    /// Reads wait while the connection is being handed on; the next handler asks again.
    func read(context: ChannelHandlerContext) {
        if deciding { context.read() }
    }

    private func fail(context: ChannelHandlerContext, reason: String, secretName: String?, consumed: ByteBuffer, inputClosed: Bool) {
        deciding = false
        session.stopWatchingHandshake(owner: self)
        session.handshakeFailed(reason: reason, secretName: secretName)
        failureRoute.route(context: context, reason: reason, consumed: consumed, inputClosed: inputClosed)
    }

    private func notTLS(context: ChannelHandlerContext, consumed: ByteBuffer) {
        guard session.settings.acceptsPlainObfuscated2 else {
            fail(context: context, reason: refusedPlainReason(consumed), secretName: nil, consumed: consumed, inputClosed: false)
            return
        }
        deciding = false
        session.stopWatchingHandshake(owner: self)
        let next = HandshakeHandler(session: session, deadline: deadline, connector: connector, failureRoute: failureRoute)
        do {
            try context.pipeline.syncOperations.addHandler(next, position: .after(self))
        } catch {
            context.close(promise: nil)
            return
        }
        context.fireChannelRead(wrapInboundOut(consumed))
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }

    /// `transports: [faketls]`: a plain obfuscated2 client is told apart from garbage only
    /// when its whole init packet is already here; either way it goes to the fronting site
    /// at once, without waiting for more bytes that a prober may never send.
    private func refusedPlainReason(_ consumed: ByteBuffer) -> String {
        guard consumed.readableBytes >= Obfuscated2.headerLength,
              (try? ClientHandshake.parse(header: consumed.readableBytesView.prefix(Obfuscated2.headerLength),
                                          secrets: session.settings.secrets)) != nil
        else { return EventReason.malformed }
        return EventReason.transportNotAllowed
    }

    private func reply(context: ChannelHandlerContext, flight: [UInt8], hello: AuthenticatedHello, trailing: ByteBuffer) {
        deciding = false
        session.stopWatchingHandshake(owner: self)
        let records = FakeTLSRecordHandler()
        let inner = HandshakeHandler(
            session: session, deadline: deadline, insideFakeTLS: true, secrets: [hello.secret],
            connector: connector, failureRoute: ClosingFailureRoute())
        do {
            try context.pipeline.syncOperations.addHandler(records, position: .after(self))
            try context.pipeline.syncOperations.addHandler(inner, position: .after(records))
        } catch {
            context.close(promise: nil)
            return
        }
        var buffer = context.channel.allocator.buffer(capacity: flight.count)
        buffer.writeBytes(flight)
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        if trailing.readableBytes > 0 {
            context.fireChannelRead(wrapInboundOut(trailing))
        }
        context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
    }
}
