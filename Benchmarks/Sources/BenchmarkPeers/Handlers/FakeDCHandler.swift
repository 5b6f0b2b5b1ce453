import NIOCore
import Synchronization

/// The far end of the relay: a Telegram DC's side of the keyless proxy→DC handshake
/// (PROTOCOL.md §3.1), then an answer to the first request: `resPQ` for `req_pq` (the
/// connection then idles until the client leaves), or a bulk transfer in both directions,
/// after which the DC closes.
public final class FakeDCHandler: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private enum State {
        case awaitingHeader
        case awaitingRequest
        case answered
        case bulk
        case closing
    }

    private let encryption: PeerEncryption
    private let tally: FakeDCTally
    private var state = State.awaitingHeader
    private var pending = ByteBuffer()
    private var leg = CipherLeg.plain
    private var source = BulkSource(frames: 0)
    private var checker = BulkChecker(expectedFrames: 0)
    private var lastWriteDone = false

    public init(encryption: PeerEncryption, tally: FakeDCTally) {
        self.encryption = encryption
        self.tally = tally
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        do throws(BenchmarkError) {
            switch state {
            case .awaitingHeader:
                pending.writeBuffer(&buffer)
                guard pending.readableBytes >= ObfuscatedHeader.length else { return }
                try acceptHeader(Array(pending.readBytes(length: ObfuscatedHeader.length)!))
                var rest = pending.slice()
                pending.clear()
                leg.open(&rest)
                pending.writeBuffer(&rest)
                try answerRequestIfComplete(context: context)
            case .awaitingRequest:
                leg.open(&buffer)
                pending.writeBuffer(&buffer)
                try answerRequestIfComplete(context: context)
            case .bulk:
                leg.open(&buffer)
                try checker.consume(buffer)
                closeIfTransferDone(context: context)
            case .answered, .closing:
                break
            }
        } catch {
            tally.record(error)
            state = .closing
            context.close(promise: nil)
        }
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if state == .bulk { sendBulk(context: context) }
        context.fireChannelWritabilityChanged()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if state == .bulk { tally.record(.closedEarly("the DC's bulk transfer")) }
        state = .closing
        context.close(promise: nil)
    }

    private func acceptHeader(_ wire: [UInt8]) throws(BenchmarkError) {
        let tag: UInt32
        switch encryption {
        case .obfuscated2:
            (tag, _, leg) = ObfuscatedHeader.accept(wire: wire, secret: nil)
        case .plain:
            tag = ObfuscatedHeader.plainTag(wire: wire)
        }
        guard ProtocolTag(rawValue: tag) != nil else { throw .unknownProtocolTag(tag) }
        state = .awaitingRequest
    }

    private func answerRequestIfComplete(context: ChannelHandlerContext) throws(BenchmarkError) {
        guard let payload = try PaddedIntermediate.takeFrame(from: &pending, maxLength: 1024) else { return }
        switch try Request(payload: payload) {
        case .reqPQ(let nonce):
            state = .answered
            tally.countAnswered()
            var reply = context.channel.allocator.buffer(bytes: PaddedIntermediate.frame(ResPQ(nonce: nonce).payload))
            leg.seal(&reply)
            context.writeAndFlush(wrapOutboundOut(reply), promise: nil)
        case .bulk(let upload, let download):
            state = .bulk
            source = BulkSource(frames: Int(download))
            checker = BulkChecker(expectedFrames: Int(upload))
            lastWriteDone = download == 0
            try checker.consume(pending)
            pending.clear()
            sendBulk(context: context)
            closeIfTransferDone(context: context)
        }
    }

    private func sendBulk(context: ChannelHandlerContext) {
        while context.channel.isWritable, let chunk = source.nextChunk(allocator: context.channel.allocator, leg: leg) {
            guard source.framesLeft == 0 else {
                context.write(wrapOutboundOut(chunk), promise: nil)
                continue
            }
            let written = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(chunk), promise: written)
            written.futureResult.assumeIsolated().whenSuccess {
                self.lastWriteDone = true
                self.closeIfTransferDone(context: context)
            }
            return
        }
        context.flush()
    }

    private func closeIfTransferDone(context: ChannelHandlerContext) {
        guard state == .bulk, lastWriteDone, checker.isComplete else { return }
        state = .closing
        tally.countTransferred()
        context.close(promise: nil)
    }
}

/// What the fake DC saw, printed when it stops.
public final class FakeDCTally: Sendable {
    private struct Counts {
        var answered = 0
        var transferred = 0
        var errors = 0
        var firstError: BenchmarkError?
    }

    private let counts = Mutex(Counts())

    public init() {}

    func countAnswered() { counts.withLock { $0.answered += 1 } }
    func countTransferred() { counts.withLock { $0.transferred += 1 } }

    func record(_ error: BenchmarkError) {
        counts.withLock {
            $0.errors += 1
            if $0.firstError == nil { $0.firstError = error }
        }
    }

    public var summary: String {
        counts.withLock {
            var line = "fake DC: \($0.answered) req_pq answered, \($0.transferred) bulk transfers, \($0.errors) errors"
            if let first = $0.firstError { line += " (first: \(first))" }
            return line
        }
    }
}
