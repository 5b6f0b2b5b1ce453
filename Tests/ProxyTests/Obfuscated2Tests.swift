import EventLog
import Foundation
import MTCrypto
import Testing
@testable import Proxy

/// Known answers from PROTOCOL.md §2.8 / §3.1 and from mtg's recorded client handshakes.
@Suite struct Obfuscated2KnownAnswerTests {
    static let vectorKey = [UInt8](hex: "00112233445566778899aabbccddeeff")!
    /// PROTOCOL.md §2.8: N = 00…37, tag dd, DC 2, bytes 62–63 = 3e 3f.
    static let vectorPlain: [UInt8] = (0..<56).map { UInt8($0) } + [0xdd, 0xdd, 0xdd, 0xdd, 0x02, 0x00, 0x3e, 0x3f]

    static func wire(_ plain: [UInt8], key: [UInt8]) -> [UInt8] {
        let cipher = AESCTR(key: SHA256.hash(plain[8..<40] + key), iv: plain[40..<56])
        return Array(plain[0..<56]) + cipher.transform(plain)[56...]
    }

    @Test func protocolVectorClientSide() throws {
        let wire = Self.wire(Self.vectorPlain, key: Self.vectorKey)
        #expect(wire[56...].hexString == "8f3d40553f8b44b1")
        let secret = ProxySecret(name: "main", form: .secure, key: Self.vectorKey)
        let handshake = try ClientHandshake.parse(header: wire, secrets: [secret])
        #expect(handshake.tag == .paddedIntermediate)
        #expect(handshake.dc == 2)
        #expect(handshake.secret.name == "main")
        #expect(handshake.replyKey.hexString == "c95a3c8c663a4e2daff3469561805825e7be010c4fcb691415b93145b640c9f3")
        #expect(handshake.replyIV.hexString == "17161514131211100f0e0d0c0b0a0908")
        // The decryptor continues at keystream offset 64.
        #expect(handshake.decryptor.transform([UInt8](hex: "996d5301beeef393")!) == [0, 1, 2, 3, 4, 5, 6, 7])
        #expect(handshake.makeReplyEncryptor().transform([0, 1, 2, 3, 4, 5, 6, 7]).hexString == "08e0efdc0e76ea8b")
    }

    @Test func protocolVectorUpstreamSide() {
        let upstream = UpstreamHandshake(tag: .paddedIntermediate, dc: 2, fastModeReply: nil) { packet in
            packet = Self.vectorPlain
        }
        #expect(Array(upstream.header[0..<56]) == Array(Self.vectorPlain[0..<56]))
        #expect(upstream.header[56...].hexString == "752b166d1c00fd5d")
        #expect(upstream.replyKey == (24..<56).reversed().map { UInt8($0) })
        #expect(upstream.replyKey.prefix(2).hexString == "3736")
        #expect(upstream.replyIV.hexString == "17161514131211100f0e0d0c0b0a0908")
    }

    struct Snapshot: Decodable {
        struct Pair: Decodable { var text: String; var cipher: String }
        var secret: String
        var frame: String
        var dc: Int
        var encrypted: Pair
        var decrypted: Pair
    }

    static func base64(_ text: String) throws -> [UInt8] {
        let padded = text + String(repeating: "=", count: (4 - text.count % 4) % 4)
        return try #require(Data(base64Encoded: padded).map { Array($0) })
    }

    @Test(arguments: ["client-handshake-snapshot-4529d55776e2d427", "client-handshake-snapshot-585c944d672f60a2"])
    func mtgRecordedClientHandshake(name: String) throws {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Fixtures"))
        let snapshot = try JSONDecoder().decode(Snapshot.self, from: Data(contentsOf: url))
        let key = try Self.base64(snapshot.secret)
        let decoy = ProxySecret(name: "other", form: .classic, key: SecureRandom.bytes(16))
        let handshake = try ClientHandshake.parse(
            header: try Self.base64(snapshot.frame),
            secrets: [decoy, ProxySecret(name: "recorded", form: .secure, key: key)]
        )
        #expect(handshake.secret.name == "recorded")
        #expect(handshake.dc == snapshot.dc)
        #expect(handshake.decryptor.transform(try Self.base64(snapshot.decrypted.cipher)) == (try Self.base64(snapshot.decrypted.text)))
        #expect(handshake.makeReplyEncryptor().transform(try Self.base64(snapshot.encrypted.text)) == (try Self.base64(snapshot.encrypted.cipher)))
    }
}

@Suite struct Obfuscated2PropertyTests {
    static func clientPacket(tag: ProtocolTag, dc: Int) -> [UInt8] {
        var packet = SecureRandom.bytes(64)
        for index in 56..<60 { packet[index] = tag.byte }
        let raw = UInt16(bitPattern: Int16(dc))
        packet[60] = UInt8(truncatingIfNeeded: raw)
        packet[61] = UInt8(truncatingIfNeeded: raw >> 8)
        return packet
    }

    @Test(arguments: ProtocolTag.allCases)
    func randomHeadersRoundTrip(tag: ProtocolTag) throws {
        for dc in [1, 2, 5, -2, -5, 203, 10002, 0, Int(Int16.min), Int(Int16.max)] {
            let key = SecureRandom.bytes(16)
            let plain = Self.clientPacket(tag: tag, dc: dc)
            let wire = Obfuscated2KnownAnswerTests.wire(plain, key: key)
            let handshake = try ClientHandshake.parse(header: wire, secrets: [ProxySecret(name: "k", form: .classic, key: key)])
            #expect(handshake.tag == tag)
            #expect(handshake.dc == dc)
        }
    }

    @Test func wrongKeyFailsTagCheck() {
        var failures = 0
        for _ in 0..<200 {
            let plain = Self.clientPacket(tag: .paddedIntermediate, dc: 2)
            let wire = Obfuscated2KnownAnswerTests.wire(plain, key: SecureRandom.bytes(16))
            let others = (0..<3).map { ProxySecret(name: "s\($0)", form: .secure, key: SecureRandom.bytes(16)) }
            do {
                _ = try ClientHandshake.parse(header: wire, secrets: others)
            } catch {
                if error == .badSecret || error == .unknownTag { failures += 1 }
            }
        }
        #expect(failures == 200)
    }

    @Test func shortOrEmptyInputIsRefusedNotTrapped() {
        for count in [0, 1, 63, 65] {
            #expect(throws: Obfuscated2Error.truncated(count: count)) {
                try ClientHandshake.parse(header: SecureRandom.bytes(count), secrets: [])
            }
        }
        #expect(throws: Obfuscated2Error.badSecret) {
            try ClientHandshake.parse(header: SecureRandom.bytes(64), secrets: [])
        }
    }

    @Test func arbitraryBytesNeverCrashTheParser() {
        let secrets = (0..<2).map { ProxySecret(name: "s\($0)", form: .classic, key: SecureRandom.bytes(16)) }
        for _ in 0..<2000 {
            _ = try? ClientHandshake.parse(header: SecureRandom.bytes(64), secrets: secrets)
        }
    }

    @Test func generatedHeadersNeverHitAForbiddenPrefix() {
        for _ in 0..<5000 {
            let upstream = UpstreamHandshake(tag: .abridged, dc: 2, fastModeReply: nil)
            #expect(!UpstreamHandshake.isForbidden(upstream.header))
        }
    }

    @Test func forbiddenPrefixesAreRegenerated() {
        let forbidden: [[UInt8]] = [
            [0xef, 1, 2, 3, 4, 5, 6, 7],
            Array("HEAD".utf8) + [1, 1, 1, 1], Array("POST".utf8) + [1, 1, 1, 1],
            Array("GET ".utf8) + [1, 1, 1, 1], Array("OPTI".utf8) + [1, 1, 1, 1],
            [0x16, 0x03, 0x01, 0x02, 1, 1, 1, 1], [0xdd, 0xdd, 0xdd, 0xdd, 1, 1, 1, 1],
            [0xee, 0xee, 0xee, 0xee, 1, 1, 1, 1], [0x01, 0x02, 0x03, 0x04, 0, 0, 0, 0],
        ]
        for prefix in forbidden {
            #expect(UpstreamHandshake.isForbidden(prefix + [UInt8](repeating: 9, count: 56)))
            var calls = 0
            let upstream = UpstreamHandshake(tag: .intermediate, dc: -3, fastModeReply: nil) { packet in
                calls += 1
                packet = (calls == 1 ? prefix : [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08]) + [UInt8](repeating: 9, count: 56)
            }
            #expect(calls == 2)
            #expect(upstream.header[0] == 0x01)
        }
    }

    /// Fast mode: the DC → proxy keystream equals the proxy → client keystream, so the DC's
    /// bytes reach the client unchanged; and the DC reads the client's tag and signed index.
    @Test(arguments: [2, -4, 203])
    func fastModeMakesTheDCEncryptForTheClient(dc: Int) throws {
        let key = SecureRandom.bytes(16)
        let plain = Self.clientPacket(tag: .intermediate, dc: dc)
        let client = try ClientHandshake.parse(
            header: Obfuscated2KnownAnswerTests.wire(plain, key: key),
            secrets: [ProxySecret(name: "k", form: .classic, key: key)]
        )
        let upstream = UpstreamHandshake(tag: client.tag, dc: client.dc, fastModeReply: (client.replyKey, client.replyIV))
        #expect(upstream.replyKey == client.replyKey)
        #expect(upstream.replyIV == client.replyIV)

        // What a DC does with the header: raw key/IV, decrypt, read tag and index.
        let header = upstream.header
        let dcDecryptor = AESCTR(key: header[8..<40], iv: header[40..<56])
        let dcPlain = dcDecryptor.transform(header)
        #expect(Array(dcPlain[56..<60]) == [0xee, 0xee, 0xee, 0xee])
        #expect(Int(Int16(bitPattern: UInt16(dcPlain[60]) | UInt16(dcPlain[61]) << 8)) == dc)
        // Payload proxy → DC continues the header keystream.
        let payload = SecureRandom.bytes(100)
        #expect(dcDecryptor.transform(upstream.encryptor.transform(payload)) == payload)
        // DC → client: the DC's encryptor is the client's decryptor.
        let reversed = Array(header[8..<56].reversed())
        let dcEncryptor = AESCTR(key: reversed[0..<32], iv: reversed[32..<48])
        let reply = SecureRandom.bytes(100)
        let clientDecryptor = client.makeReplyEncryptor()
        #expect(clientDecryptor.transform(dcEncryptor.transform(reply)) == reply)
    }
}
