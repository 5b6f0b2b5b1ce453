import NIOCore

/// The record layer of an authenticated fake-TLS connection (PROTOCOL.md §4.5), between
/// the socket and the obfuscated2 handshake / relay: inbound ApplicationData payloads are
/// passed on (ChangeCipherSpec skipped), outbound bytes go out in `17 03 03` records of at
/// most 16 384 bytes. A record the decoder refuses closes the connection.
final class FakeTLSRecordHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// Payloads up to this size are copied behind their header into one buffer; longer
    /// ones go out as a header slice plus a slice of the relay's buffer (gathered by
    /// writev), so bulk DC → client bytes are never copied in userspace.
    static let copyThreshold = 1024

    private var decoder = FakeTLSRecordDecoder()
    private let recordPayloadLength: Int

    init(recordPayloadLength: Int = FakeTLSRecordEncoder.maximumPayloadLength) {
        self.recordPayloadLength = recordPayloadLength
    }

    /// One read holds many client records (tdlib writes 2,878-byte ones), so the payloads of
    /// a read are passed on as one buffer: a lone payload as a slice of the read buffer,
    /// several gathered into one, which costs one memcpy instead of a cipher call, an
    /// allocation and a queued write per record downstream.
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var input = unwrapInboundIn(data)
        var gathered: ByteBuffer?
        var first: ByteBuffer?
        do {
            while let payload = try decoder.nextPayload(from: &input) {
                if first == nil {
                    first = payload
                } else if gathered != nil {
                    gathered!.writeImmutableBuffer(payload)
                } else {
                    var buffer = context.channel.allocator.buffer(capacity: first!.readableBytes + payload.readableBytes + input.readableBytes)
                    buffer.writeImmutableBuffer(first!)
                    buffer.writeImmutableBuffer(payload)
                    gathered = buffer
                }
            }
        } catch {
            context.close(promise: nil)
            return
        }
        if let out = gathered ?? first {
            context.fireChannelRead(wrapInboundOut(out))
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var payload = unwrapOutboundIn(data)
        let length = payload.readableBytes
        if length == 0 {
            // The relay flushes with an empty write before closing; keep it a no-op.
            context.write(data, promise: promise)
            return
        }
        if length <= Self.copyThreshold {
            var record = context.channel.allocator.buffer(capacity: 5 + length)
            Self.writeHeader(length, into: &record)
            record.writeImmutableBuffer(payload)
            context.write(wrapOutboundOut(record), promise: promise)
            return
        }
        let count = (length + recordPayloadLength - 1) / recordPayloadLength
        var headers = context.channel.allocator.buffer(capacity: 5 * count)
        var remaining = length
        while remaining > 0 {
            let chunk = min(remaining, recordPayloadLength)
            Self.writeHeader(chunk, into: &headers)
            remaining -= chunk
        }
        for index in 0..<count {
            let chunk = payload.readSlice(length: min(payload.readableBytes, recordPayloadLength))!
            context.write(wrapOutboundOut(headers.getSlice(at: headers.readerIndex + 5 * index, length: 5)!), promise: nil)
            context.write(wrapOutboundOut(chunk), promise: index == count - 1 ? promise : nil)
        }
    }

    private static func writeHeader(_ length: Int, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(0x17))
        buffer.writeInteger(UInt16(0x0303))
        buffer.writeInteger(UInt16(length))
    }
}
