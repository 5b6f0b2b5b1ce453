#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import MTCrypto
import NIOCore

/// The client side of fake TLS (PROTOCOL.md §4.2, §4.4, §4.5) under a load connection:
/// sends a signed ClientHello, waits for the proxy's flight and checks its digest, and only
/// then passes `channelActive` on, so the obfuscated2 client above starts inside the tunnel
/// exactly as tdlib does. Afterwards outgoing bytes go out in ApplicationData records of
/// at most 2,878 bytes (tdlib's `MAX_TLS_PACKET_LENGTH`), the first preceded by one
/// ChangeCipherSpec, and incoming records are unwrapped.
public final class FakeTLSClientHandler: ChannelDuplexHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer
    public typealias OutboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    public static let clientRecordLength = 2878

    private enum State {
        case awaitingFlight
        case open
        case failed
    }

    private let key: [UInt8]
    private let domain: String
    private var state = State.awaitingFlight
    private var clientRandom: [UInt8] = []
    private var flight = ByteBuffer()
    private var sentChangeCipherSpec = false
    /// Payload bytes still due in the current incoming record; nil while reading a header.
    private var recordRemaining = 0
    private var header = ByteBuffer()

    /// A flight that does not verify is reported as an error to the handler above.
    public init(key: [UInt8], domain: String) {
        self.key = key
        self.domain = domain
    }

    public func channelActive(context: ChannelHandlerContext) {
        let hello = BenchmarkClientHello.make(key: key, domain: domain, unixTime: UInt32(truncatingIfNeeded: time(nil)))
        clientRandom = Array(hello[11..<43])
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(bytes: hello)), promise: nil)
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var input = unwrapInboundIn(data)
        switch state {
        case .awaitingFlight:
            flight.writeBuffer(&input)
            switch BenchmarkClientHello.checkFlight(flight, clientRandom: clientRandom, key: key) {
            case .needMoreBytes:
                return
            case .rejected:
                state = .failed
                context.fireErrorCaught(BenchmarkError.unexpectedMessage("a fake-TLS flight that does not verify"))
                return
            case .verified(let length):
                state = .open
                flight.moveReaderIndex(forwardBy: length)
                input = flight
                flight = ByteBuffer()
                context.fireChannelActive()
                unwrap(&input, context: context)
            }
        case .open:
            unwrap(&input, context: context)
        case .failed:
            break
        }
    }

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        var payload = unwrapOutboundIn(data)
        let records = (payload.readableBytes + Self.clientRecordLength - 1) / Self.clientRecordLength
        var output = context.channel.allocator.buffer(capacity: payload.readableBytes + 5 * records + 6)
        if !sentChangeCipherSpec {
            output.writeBytes([0x14, 0x03, 0x03, 0x00, 0x01, 0x01])
            sentChangeCipherSpec = true
        }
        while payload.readableBytes > 0 {
            let chunk = min(payload.readableBytes, Self.clientRecordLength)
            output.writeBytes([0x17, 0x03, 0x03, UInt8(chunk >> 8), UInt8(chunk & 0xff)])
            output.writeImmutableBuffer(payload.readSlice(length: chunk)!)
        }
        context.write(wrapOutboundOut(output), promise: promise)
    }

    private func unwrap(_ input: inout ByteBuffer, context: ChannelHandlerContext) {
        while input.readableBytes > 0 {
            if recordRemaining > 0 {
                let slice = input.readSlice(length: min(recordRemaining, input.readableBytes))!
                recordRemaining -= slice.readableBytes
                context.fireChannelRead(wrapInboundOut(slice))
                continue
            }
            let need = 5 - header.readableBytes
            var part = input.readSlice(length: min(need, input.readableBytes))!
            header.writeBuffer(&part)
            guard header.readableBytes == 5 else { return }
            let bytes = header.readBytes(length: 5)!
            header.clear()
            guard bytes[0] == 0x17, bytes[1] == 0x03, bytes[2] == 0x03 else {
                state = .failed
                context.fireErrorCaught(BenchmarkError.unexpectedMessage("a TLS record of type \(bytes[0]) after the handshake"))
                return
            }
            recordRemaining = Int(bytes[3]) << 8 | Int(bytes[4])
        }
    }
}

/// A ClientHello padded to 517 bytes with the padding extension, as tdlib's hellos were
/// before the post-quantum key share, signed as PROTOCOL.md §4.2 says, and the check of the
/// proxy's answer. 517 because mtprotoproxy 1.0.6 only recognises hellos that begin
/// `16 03 01 02 00 01 00 01 fc 03 03` (a 512-byte record); today's ~1.8 KB hellos would be
/// treated as non-TLS there, and every relay of a run must get the same load.
public enum BenchmarkClientHello {
    public static let length = 517

    public static func make(key: [UInt8], domain: String, unixTime: UInt32) -> [UInt8] {
        let name = Array(domain.utf8)
        var extensions: [UInt8] = []
        func add(_ type: UInt16, _ body: [UInt8]) {
            extensions += u16(Int(type)) + u16(body.count) + body
        }
        add(0x0000, u16(name.count + 3) + [0x00] + u16(name.count) + name)
        add(0x000a, [0x00, 0x06, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18])
        add(0x0010, [0x00, 0x0c, 0x02] + Array("h2".utf8) + [0x08] + Array("http/1.1".utf8))
        add(0x000d, [0x00, 0x08, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x05, 0x03])
        add(0x0033, [0x00, 0x24, 0x00, 0x1d, 0x00, 0x20] + X25519.ephemeralPublicKey())
        add(0x002b, [0x04, 0x03, 0x04, 0x03, 0x03])
        let suites: [UInt8] = [0x13, 0x01, 0x13, 0x02, 0x13, 0x03, 0xc0, 0x2b, 0xc0, 0x2f]
        func record(_ extensions: [UInt8]) -> [UInt8] {
            var body: [UInt8] = [0x03, 0x03] + [UInt8](repeating: 0, count: 32) + [0x20] + SecureRandom.bytes(32)
            body += u16(suites.count) + suites + [0x01, 0x00] + u16(extensions.count) + extensions
            let handshake: [UInt8] = [0x01, 0x00] + u16(body.count) + body
            return [0x16, 0x03, 0x01] + u16(handshake.count) + handshake
        }
        let padding = length - record(extensions).count - 4
        add(0x0015, [UInt8](repeating: 0, count: max(0, padding)))
        var hello = record(extensions)
        var random = HMACSHA256.authenticationCode(key: key, data: hello)
        for index in 0..<4 { random[28 + index] ^= UInt8(truncatingIfNeeded: unixTime >> (8 * index)) }
        hello.replaceSubrange(11..<43, with: random)
        return hello
    }

    public enum FlightCheck: Equatable, Sendable {
        case needMoreBytes
        case verified(length: Int)
        case rejected
    }

    /// ServerHello, then `14 03 03 00 01 01`, then one ApplicationData record; the digest in
    /// bytes 11–42 is HMAC-SHA256(key, client random ‖ flight with those bytes zeroed).
    public static func checkFlight(_ buffer: ByteBuffer, clientRandom: [UInt8], key: [UInt8]) -> FlightCheck {
        let bytes = Array(buffer.readableBytesView)
        guard bytes.count >= 5 else { return .needMoreBytes }
        guard bytes[0] == 0x16, bytes[1] == 0x03, bytes[2] == 0x03 else { return .rejected }
        let helloEnd = 5 + (Int(bytes[3]) << 8 | Int(bytes[4]))
        guard helloEnd >= 43 else { return .rejected }
        guard bytes.count >= helloEnd + 11 else { return .needMoreBytes }
        guard bytes[helloEnd..<helloEnd + 9].elementsEqual([0x14, 0x03, 0x03, 0x00, 0x01, 0x01, 0x17, 0x03, 0x03]) else { return .rejected }
        let end = helloEnd + 11 + (Int(bytes[helloEnd + 9]) << 8 | Int(bytes[helloEnd + 10]))
        guard bytes.count >= end else { return .needMoreBytes }
        var zeroed = Array(bytes[0..<end])
        zeroed.replaceSubrange(11..<43, with: repeatElement(0, count: 32))
        let expected = HMACSHA256.authenticationCode(key: key, data: clientRandom + zeroed)
        return constantTimeEquals(expected, bytes[11..<43]) ? .verified(length: end) : .rejected
    }

    private static func u16(_ value: Int) -> [UInt8] { [UInt8(value >> 8 & 0xff), UInt8(value & 0xff)] }
}
