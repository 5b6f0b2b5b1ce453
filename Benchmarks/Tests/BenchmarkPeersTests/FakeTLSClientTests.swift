@testable import BenchmarkPeers
import MTCrypto
import NIOCore
import NIOEmbedded
import Testing

/// The load client's fake-TLS layer against a server side written here from PROTOCOL.md
/// §4.3–4.5: the hello's digest, the flight check, records both ways.
@Suite struct FakeTLSClientTests {
    static let key = [UInt8](repeating: 0x5a, count: 16)

    /// Passes on what reaches it and records whether the tunnel opened.
    final class Above: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var active = false
        var received: [UInt8] = []
        func channelActive(context: ChannelHandlerContext) { active = true }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { received += unwrapInboundIn(data).readableBytesView }
    }

    static func flight(clientRandom: [UInt8], key: [UInt8]) -> [UInt8] {
        let hello: [UInt8] = [0x02, 0x00, 0x00, 0x26, 0x03, 0x03] + [UInt8](repeating: 0, count: 32) + [0x00, 0x13, 0x01, 0x00]
        var flight: [UInt8] = [0x16, 0x03, 0x03, 0x00, UInt8(hello.count)] + hello
        flight += [0x14, 0x03, 0x03, 0x00, 0x01, 0x01, 0x17, 0x03, 0x03, 0x00, 0x10] + [UInt8](repeating: 7, count: 16)
        flight.replaceSubrange(11..<43, with: HMACSHA256.authenticationCode(key: key, data: clientRandom + flight))
        return flight
    }

    @Test func helloIsSignedWithTheKeyAndTheTime() {
        let hello = BenchmarkClientHello.make(key: Self.key, domain: "www.example.com", unixTime: 1_800_000_000)
        #expect(hello.count == BenchmarkClientHello.length)
        #expect(hello[0..<3].elementsEqual([0x16, 0x03, 0x01]))
        var zeroed = hello
        zeroed.replaceSubrange(11..<43, with: repeatElement(0, count: 32))
        let digest = HMACSHA256.authenticationCode(key: Self.key, data: zeroed)
        #expect(hello[11..<39].elementsEqual(digest[0..<28]))
        let stamp = (0..<4).reduce(UInt32(0)) { $0 | UInt32(hello[39 + $1] ^ digest[28 + $1]) << (8 * $1) }
        #expect(stamp == 1_800_000_000)
    }

    @Test func tunnelOpensOnlyAfterAVerifiedFlightThenWrapsAndUnwraps() throws {
        let above = Above()
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandlers([FakeTLSClientHandler(key: Self.key, domain: "www.example.com"), above])
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 443)).wait()
        let hello = try #require(try channel.readOutbound(as: ByteBuffer.self)).readableBytesView
        #expect(!above.active)
        let flight = Self.flight(clientRandom: Array(Array(hello)[11..<43]), key: Self.key)
        try channel.writeInbound(ByteBuffer(bytes: flight[0..<20]))
        #expect(!above.active)
        try channel.writeInbound(ByteBuffer(bytes: flight[20...] + [0x17, 0x03, 0x03, 0x00, 0x02, 0xaa]))
        #expect(above.active)
        try channel.writeInbound(ByteBuffer(bytes: [0xbb, 0x17, 0x03, 0x03, 0x00, 0x01, 0xcc]))
        #expect(above.received == [0xaa, 0xbb, 0xcc])

        try channel.writeOutbound(ByteBuffer(bytes: [UInt8](repeating: 1, count: 3000)))
        var wire: [UInt8] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { wire += buffer.readableBytesView }
        #expect(wire[0..<6].elementsEqual([0x14, 0x03, 0x03, 0x00, 0x01, 0x01]))
        #expect(wire[6..<11].elementsEqual([0x17, 0x03, 0x03, 0x0b, 0x3e]))
        #expect(wire.count == 6 + 5 + 2878 + 5 + 122)
    }

    @Test func aFlightSignedWithAnotherKeyIsRefused() throws {
        let hello = BenchmarkClientHello.make(key: Self.key, domain: "www.example.com", unixTime: 1)
        let flight = Self.flight(clientRandom: Array(hello[11..<43]), key: [UInt8](repeating: 1, count: 16))
        #expect(BenchmarkClientHello.checkFlight(ByteBuffer(bytes: flight), clientRandom: Array(hello[11..<43]), key: Self.key) == .rejected)
        #expect(BenchmarkClientHello.checkFlight(ByteBuffer(bytes: flight[0..<30]), clientRandom: Array(hello[11..<43]), key: Self.key) == .needMoreBytes)
    }
}
