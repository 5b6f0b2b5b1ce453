import MTCrypto
import Testing

@Suite struct AESCTRTests {
    // PROTOCOL.md §2.8: client→proxy key/IV; the init packet's bytes 56–63 and the
    // first payload bytes continue one keystream.
    @Test func protocolVectorKeystreamContinues() throws {
        let secret = try #require([UInt8](hex: "00112233445566778899aabbccddeeff"))
        var packet = (0..<56).map { UInt8($0) }
        packet += [0xdd, 0xdd, 0xdd, 0xdd, 0x02, 0x00, 0x3e, 0x3f]
        let key = SHA256.hash(packet[8..<40] + secret)
        #expect(key.hexString == "28ddb6447216c5f55106259f1c7ba64bfe69909197bc20253466cfa42715f29c")
        let cipher = AESCTR(key: key, iv: packet[40..<56])
        let wire = cipher.transform(packet)
        #expect(wire[56...].hexString == "8f3d40553f8b44b1")
        #expect(cipher.transform([0, 1, 2, 3, 4, 5, 6, 7]).hexString == "996d5301beeef393")
    }

    @Test func splitCallsEqualOneCall() {
        let key = SecureRandom.bytes(32), iv = SecureRandom.bytes(16)
        let data = SecureRandom.bytes(1000)
        let whole = AESCTR(key: key, iv: iv).transform(data)
        let parts = AESCTR(key: key, iv: iv)
        var pieces: [UInt8] = []
        var index = 0
        for size in [1, 15, 16, 17, 100, 851] {
            pieces += parts.transform(data[index..<index + size])
            index += size
        }
        #expect(pieces == whole)
    }

    @Test func hmacRFC4231Case2() {
        let mac = HMACSHA256.authenticationCode(key: Array("Jefe".utf8), data: Array("what do ya want for nothing?".utf8))
        #expect(mac.hexString == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test func constantTimeCompare() {
        #expect(constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!constantTimeEquals([1, 2], [1, 2, 3]))
    }
}

@Suite struct AESCTRSeparateOutputTests {
    @Test func separateOutputEqualsInPlace() {
        let key = SecureRandom.bytes(32), iv = SecureRandom.bytes(16)
        let data = SecureRandom.bytes(777)
        let inPlace = AESCTR(key: key, iv: iv)
        let separate = AESCTR(key: key, iv: iv)
        var expected = data
        inPlace.apply(&expected)
        var output = [UInt8](repeating: 0, count: data.count)
        data.withUnsafeBytes { input in output.withUnsafeMutableBytes { separate.apply(input, to: $0) } }
        #expect(output == expected)
        #expect(separate.transform([1, 2, 3]) == inPlace.transform([1, 2, 3]))
    }
}
