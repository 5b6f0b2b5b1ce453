import MTCrypto
import NIOCore

/// One client connection of the load: the obfuscated2 header with the proxy's secret
/// (PROTOCOL.md §2.4, tag `dd`, DC 2), then either `req_pq` and its `resPQ` answer, or a bulk
/// transfer in both directions that ends when the DC closes. `outcome` succeeds when the
/// work is done and verified; the connection is left open after a round trip.
public final class LoadConnectionHandler: ChannelInboundHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    public enum Work: Sendable {
        case roundTrip
        case bulk(uploadFrames: Int, downloadFrames: Int)
    }

    private enum State {
        case connecting
        case awaitingResponse
        case bulk
        case finished
    }

    private let work: Work
    private let encryption: PeerEncryption
    private let secret: [UInt8]
    private let outcome: EventLoopPromise<Void>
    private var state = State.connecting
    private var leg = CipherLeg.plain
    private var nonce: [UInt8] = []
    private var pending = ByteBuffer()
    private var source = BulkSource(frames: 0)
    private var checker = BulkChecker(expectedFrames: 0)

    public init(work: Work, encryption: PeerEncryption, secret: [UInt8], outcome: EventLoopPromise<Void>) {
        self.work = work
        self.encryption = encryption
        self.secret = secret
        self.outcome = outcome
    }

    public func channelActive(context: ChannelHandlerContext) {
        let wire: [UInt8]
        switch encryption {
        case .obfuscated2:
            (wire, leg) = ObfuscatedHeader.random(tag: .paddedIntermediate, dc: 2, secret: secret).initiatorLeg()
        case .plain:
            wire = ObfuscatedHeader.plainWire(tag: .paddedIntermediate, dc: 2)
        }
        let request: Request
        switch work {
        case .roundTrip:
            nonce = SecureRandom.bytes(16)
            request = .reqPQ(nonce: nonce)
            state = .awaitingResponse
        case .bulk(let upload, let download):
            request = .bulk(uploadFrames: UInt32(upload), downloadFrames: UInt32(download))
            source = BulkSource(frames: upload)
            checker = BulkChecker(expectedFrames: download)
            state = .bulk
        }
        var first = context.channel.allocator.buffer(bytes: PaddedIntermediate.frame(request.payload))
        leg.seal(&first)
        var opening = context.channel.allocator.buffer(bytes: wire)
        opening.writeBuffer(&first)
        context.write(wrapOutboundOut(opening), promise: nil)
        sendBulk(context: context)
        context.fireChannelActive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        do throws(BenchmarkError) {
            switch state {
            case .awaitingResponse:
                leg.open(&buffer)
                pending.writeBuffer(&buffer)
                guard let payload = try PaddedIntermediate.takeFrame(from: &pending, maxLength: 1024) else { return }
                guard try ResPQ(payload: payload).nonce == nonce else {
                    throw .unexpectedMessage("resPQ with another connection's nonce")
                }
                finish(.success(()))
            case .bulk:
                leg.open(&buffer)
                try checker.consume(buffer)
            case .connecting, .finished:
                break
            }
        } catch {
            finish(.failure(error))
            context.close(promise: nil)
        }
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if state == .bulk { sendBulk(context: context) }
        context.fireChannelWritabilityChanged()
    }

    public func channelInactive(context: ChannelHandlerContext) {
        switch state {
        case .bulk where checker.isComplete && source.framesLeft == 0:
            finish(.success(()))
        case .bulk:
            finish(.failure(BenchmarkError.closedEarly("the bulk transfer (\(checker.completeFrames) frames in)")))
        case .connecting, .awaitingResponse:
            finish(.failure(BenchmarkError.closedEarly("the handshake and first round trip")))
        case .finished:
            break
        }
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(error))
        context.close(promise: nil)
    }

    private func sendBulk(context: ChannelHandlerContext) {
        while context.channel.isWritable, let chunk = source.nextChunk(allocator: context.channel.allocator, leg: leg) {
            context.write(wrapOutboundOut(chunk), promise: nil)
        }
        context.flush()
    }

    private func finish(_ result: Result<Void, any Error>) {
        guard state != .finished else { return }
        state = .finished
        outcome.completeWith(result)
    }
}
