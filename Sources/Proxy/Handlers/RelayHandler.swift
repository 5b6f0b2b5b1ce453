import EventLog
import MTCrypto
import NIOCore

/// Client → DC re-encryption: the client leg's keystream off, the DC leg's keystream on.
final class ClientToUpstreamCipher {
    private let decryptor: AESCTR
    private let encryptor: AESCTR

    init(decryptor: AESCTR, encryptor: AESCTR) {
        self.decryptor = decryptor
        self.encryptor = encryptor
    }

    /// NIO's receive pool still references `input`, so writing into it would copy it
    /// (CoW). The first pass therefore reads `input` and writes a fresh buffer, the second
    /// runs in place there: one allocation, no memcpy, and the pooled buffer is free again.
    func transform(_ input: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        let count = input.readableBytes
        var output = allocator.buffer(capacity: count)
        output.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { writable in
            let target = UnsafeMutableRawBufferPointer(rebasing: writable[0..<count])
            input.withUnsafeReadableBytes { decryptor.apply($0, to: target) }
            encryptor.apply(target)
            return count
        }
        return output
    }
}

/// One leg of a relayed session, glued to its partner on the other leg (the swift-nio-examples
/// connect-proxy `GlueHandler` pattern): reads on one side become writes on the other, a side
/// stops reading while its partner is not writable, EOF becomes a write shutdown on the other
/// side. Both legs live on one event loop, so partners call each other directly.
final class RelayHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    enum Side { case client, upstream }

    private let side: Side
    private let session: ProxySession
    /// Only on the client side of a Telegram session; DC → client bytes are forwarded
    /// untouched (fast mode), and a fronted connection has none at all.
    private let cipher: ClientToUpstreamCipher?
    private var partner: RelayHandler?
    private var context: ChannelHandlerContext?
    private var pendingRead = false
    private var inputClosed = false
    /// Completes when our output has been shut down after the partner's EOF.
    private var outputShutdown: EventLoopFuture<Void>?

    private init(side: Side, session: ProxySession, cipher: ClientToUpstreamCipher?) {
        self.side = side
        self.session = session
        self.cipher = cipher
    }

    /// - Parameter cipher: nil splices bytes unchanged (the fronting site's connection).
    static func pair(session: ProxySession, cipher: ClientToUpstreamCipher?) -> (client: RelayHandler, upstream: RelayHandler) {
        let client = RelayHandler(side: .client, session: session, cipher: cipher)
        let upstream = RelayHandler(side: .upstream, session: session, cipher: nil)
        client.partner = upstream
        upstream.partner = client
        return (client, upstream)
    }

    private var closeReason: String {
        side == .client ? EventReason.clientClosed : EventReason.upstreamClosed
    }

    // MARK: Calls from the partner

    private func partnerWrite(_ buffer: ByteBuffer) {
        context?.write(wrapOutboundOut(buffer), promise: nil)
    }

    private func partnerWrite(_ data: NIOAny) {
        context?.write(data, promise: nil)
    }

    private func partnerFlush() {
        context?.flush()
    }

    /// The other side sent EOF: shut down our output once what is queued has gone out.
    /// With our input shut too, NIO would escalate an output close to a full close that
    /// drops queued writes, so then flush with an empty write and close fully after it.
    private func partnerWriteEOF() {
        guard let context, outputShutdown == nil else { return }
        let done = context.eventLoop.makePromise(of: Void.self)
        outputShutdown = done.futureResult
        if inputClosed {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer()), promise: done)
            done.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        } else {
            context.close(mode: .output, promise: done)
        }
    }

    /// The other side is gone: close, but let an output shutdown already under way deliver
    /// what it holds first (the session's linger timer bounds the wait).
    private func partnerCloseFull() {
        guard let context else { return }
        if let outputShutdown {
            outputShutdown.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        } else {
            context.close(promise: nil)
        }
    }

    private func partnerBecameWritable() {
        if pendingRead {
            pendingRead = false
            context?.read()
        }
    }

    private var partnerWritable: Bool {
        context?.channel.isWritable ?? false
    }

    // MARK: Client-side entry from the handshake

    /// Client bytes that arrived with or after the init packet, before the relay existed.
    func relayEarlyClientBytes(_ buffer: ByteBuffer, now: NIODeadline) {
        guard let context else { return }
        session.relayedFromClient(buffer.readableBytes, now: now)
        partner?.partnerWrite(cipher?.transform(buffer, allocator: context.channel.allocator) ?? buffer)
    }

    /// The client sent EOF before the relay existed.
    func relayEarlyEOF() {
        inputClosed = true
        session.noteCloseReason(closeReason)
        partner?.partnerWriteEOF()
    }

    // MARK: ChannelHandler

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        self.partner = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let now = context.eventLoop.now
        switch side {
        case .client:
            let input = unwrapInboundIn(data)
            session.relayedFromClient(input.readableBytes, now: now)
            if let cipher {
                partner?.partnerWrite(cipher.transform(input, allocator: context.channel.allocator))
            } else {
                partner?.partnerWrite(data)
            }
        case .upstream:
            // Fast mode: the DC already encrypted for the client; forward the same buffer.
            session.relayedToClient(unwrapInboundIn(data).readableBytes, now: now)
            partner?.partnerWrite(data)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        partner?.partnerFlush()
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        session.noteCloseReason(closeReason)
        partner?.partnerCloseFull()
        context.fireChannelInactive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            inputClosed = true
            session.noteCloseReason(closeReason)
            partner?.partnerWriteEOF()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        session.noteCloseReason(closeReason)
        context.close(promise: nil)
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            partner?.partnerBecameWritable()
        }
        context.fireChannelWritabilityChanged()
    }

    func read(context: ChannelHandlerContext) {
        if partner?.partnerWritable ?? false {
            context.read()
        } else {
            pendingRead = true
        }
    }
}
