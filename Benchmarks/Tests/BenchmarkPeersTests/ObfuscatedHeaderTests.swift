@testable import BenchmarkPeers
import MTCrypto
import NIOCore
import Testing

/// Known answers from PROTOCOL.md §2.8 and §3.1.
@Suite struct ObfuscatedHeaderTests {
    static let packet: [UInt8] = Array(0...0x37) + [0xdd, 0xdd, 0xdd, 0xdd, 0x02, 0x00, 0x3e, 0x3f]
    static let secret = [UInt8](hex: "00112233445566778899aabbccddeeff")!

    @Test func clientKeysAndWireMatchTheVector() {
        let header = ObfuscatedHeader(packet: Self.packet, secret: Self.secret)
        #expect(header.initiatorToResponder.key.hexString == "28ddb6447216c5f55106259f1c7ba64bfe69909197bc20253466cfa42715f29c")
        #expect(header.initiatorToResponder.iv.hexString == "28292a2b2c2d2e2f3031323334353637")
        #expect(header.responderToInitiator.key.hexString == "c95a3c8c663a4e2daff3469561805825e7be010c4fcb691415b93145b640c9f3")
        #expect(header.responderToInitiator.iv.hexString == "17161514131211100f0e0d0c0b0a0908")

        let (wire, leg) = header.initiatorLeg()
        #expect(Array(wire[0..<56]) == Array(Self.packet[0..<56]))
        #expect(Array(wire[56..<64]).hexString == "8f3d40553f8b44b1")

        var sent = ByteBuffer(bytes: Array(0...7) as [UInt8])
        leg.seal(&sent)
        #expect(Array(sent.readableBytesView).hexString == "996d5301beeef393")

        var received = ByteBuffer(bytes: [UInt8](hex: "08e0efdc0e76ea8b")!)
        leg.open(&received)
        #expect(Array(received.readableBytesView) == Array(0...7))
    }

    @Test func keylessHeaderMatchesTheDCVector() {
        let header = ObfuscatedHeader(packet: Self.packet, secret: nil)
        #expect(header.initiatorToResponder.key == Array(8...0x27))
        #expect(header.responderToInitiator.key == Array((0x18...0x37).reversed()))
        let (wire, _) = header.initiatorLeg()
        #expect(Array(wire[56..<64]).hexString == "752b166d1c00fd5d")
    }

    @Test(arguments: [nil, secret])
    func responderReadsWhatTheInitiatorSent(secret: [UInt8]?) {
        let (wire, client) = ObfuscatedHeader.random(tag: .paddedIntermediate, dc: -4, secret: secret).initiatorLeg()
        let (tag, dc, server) = ObfuscatedHeader.accept(wire: wire, secret: secret)
        #expect(tag == ProtocolTag.paddedIntermediate.rawValue)
        #expect(dc == -4)

        var upstream = ByteBuffer(string: "client to server")
        client.seal(&upstream)
        server.open(&upstream)
        #expect(String(buffer: upstream) == "client to server")

        var downstream = ByteBuffer(string: "server to client")
        server.seal(&downstream)
        client.open(&downstream)
        #expect(String(buffer: downstream) == "server to client")
    }

    @Test(arguments: ["ef000000ffffffff", "48454144ffffffff", "504f5354ffffffff", "474554 20ffffffff",
                      "4f505449ffffffff", "16030102ffffffff", "ddddddddffffffff", "eeeeeeeeffffffff", "0102030400000000"])
    func reservedBeginningsAreRefused(start: String) {
        let packet = [UInt8](hex: start.replacingOccurrences(of: " ", with: ""))! + [UInt8](repeating: 0x55, count: 56)
        #expect(ObfuscatedHeader.isReserved(packet))
    }

    @Test func randomHeadersAreNeverReservedAndCarryTagAndDC() {
        for _ in 0..<1_000 {
            let header = ObfuscatedHeader.random(tag: .intermediate, dc: 2, secret: nil)
            #expect(!ObfuscatedHeader.isReserved(header.packet))
            #expect(ObfuscatedHeader.plainTag(wire: header.packet) == ProtocolTag.intermediate.rawValue)
            #expect(ObfuscatedHeader.dcIndex(in: header.packet) == 2)
        }
    }
}

private extension String {
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: Character(target), omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
