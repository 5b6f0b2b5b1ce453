import EventLog
import Testing

/// `source.ip_hash` packed into two words when it is the proxy's 32 lowercase hex digits,
/// held as text otherwise; either way the text comes back exactly, through the event, the
/// encoder and the decoder.
@Suite struct IPHashValueTests {
    static let digits = Array("0123456789abcdef")

    static func hex(_ random: inout SystemRandomNumberGenerator, count: Int = 32) -> String {
        String((0..<count).map { _ in digits[Int.random(in: 0..<16, using: &random)] })
    }

    @Test func hashTextIsPackedAndSpelledBack() {
        var random = SystemRandomNumberGenerator()
        let texts = ["00000000000000000000000000000000", "ffffffffffffffffffffffffffffffff",
                     "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"]
            + (0..<2_000).map { _ in Self.hex(&random) }
        for text in texts {
            let value = IPHashValue(text)
            #expect(value.packedWords != nil, "\(text)")
            #expect(value.description == text)
            #expect(value.count == 32)
            #expect(value.withUTF8 { String(decoding: $0, as: UTF8.self) } == text)
            let fromBytes = Array(text.utf8).withUnsafeBufferPointer { IPHashValue(hexDigits: $0) }
            #expect(fromBytes == value)
        }
        // The packing is the number the digits spell.
        #expect(IPHashValue("0123456789abcdeffedcba9876543210").packedWords! == (0x0123_4567_89AB_CDEF, 0xFEDC_BA98_7654_3210))
    }

    /// The pseudonym packed from the HMAC's bytes is the one its hex text packs to.
    @Test func digestBytesPackAsTheirHexText() {
        var random = SystemRandomNumberGenerator()
        for _ in 0..<1_000 {
            let digest = (0..<16).map { _ in UInt8.random(in: 0...255, using: &random) }
            let hex = digest.map { String(Self.digits[Int($0 >> 4)]) + String(Self.digits[Int($0 & 15)]) }.joined()
            #expect(IPHashValue(digest: digest) == IPHashValue(hex))
            #expect(IPHashValue(digest: digest).description == hex)
        }
    }

    @Test func otherTextIsKeptAsItIs() {
        var random = SystemRandomNumberGenerator()
        var texts = ["", "0123456789ABCDEF0123456789abcdef", "0123456789abcdef0123456789abcdeg",
                     "0123456789abcdef0123456789abcde", "0123456789abcdef0123456789abcdef0",
                     "0123456789abcdef0123456789abcd\u{e9}", "203.0.113.7", "ip_hash with spaces and \"quotes\""]
        // One byte of a hash changed to each byte that is not a lowercase hex digit.
        let base = Self.hex(&random)
        for byte in UInt8(0x20)...UInt8(0x7E) where !Self.digits.contains(Character(Unicode.Scalar(byte))) {
            var bytes = Array(base.utf8)
            bytes[Int.random(in: 0..<32, using: &random)] = byte
            texts.append(String(decoding: bytes, as: UTF8.self))
        }
        for text in texts {
            let value = IPHashValue(text)
            #expect(value.packedWords == nil, "\(text)")
            #expect(value.description == text)
            #expect(value.count == text.utf8.count)
            #expect(value.withUTF8 { String(decoding: $0, as: UTF8.self) } == text)
            #expect(Array(text.utf8).withUnsafeBufferPointer { IPHashValue(hexDigits: $0) } == nil)
        }
    }

    @Test func equalTextsAreEqualValues() {
        var random = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let text = Self.hex(&random)
            let other = Int.random(in: 0..<2, using: &random) == 0 ? text : Self.hex(&random)
            #expect((IPHashValue(text) == IPHashValue(other)) == (text == other))
            #expect((IPHashValue(text).hashValue == IPHashValue(other).hashValue) || text != other)
        }
        #expect(IPHashValue("A" + String(repeating: "0", count: 31)) != IPHashValue("a" + String(repeating: "0", count: 31)))
    }

    /// Through the event: set as text, written, decoded (by every reader), the same text.
    @Test func eventsCarryTheTextThroughEncodingAndDecoding() throws {
        var random = SystemRandomNumberGenerator()
        let texts = (0..<200).map { _ in Self.hex(&random) }
            + ["0123456789ABCDEF0123456789ABCDEF", "short", "with \"quote\" and \\ and \u{1}", "caf\u{e9}"]
        for text in texts {
            var event = Event(timestampMilliseconds: 1_700_000_000_123, action: .connectionAccepted, sourceIPHash: text)
            #expect(event.sourceIPHash == text)
            let line = event.jsonLine()
            let decoded = try Event(jsonLine: Array(line.dropLast()))
            #expect(decoded == event)
            #expect(decoded.sourceIPHash == text)
            var decoder = EventLineDecoder(keeping: [.sourceIPHash])
            let kept = try Array(line.dropLast()).withUnsafeBufferPointer { bytes throws(EventDecodingError) in try decoder.decode(bytes) }
            #expect(kept.sourceIPHash == text)
            #expect(kept.sourceIPHashValue == IPHashValue(text))
            event.sourceIPHash = nil
            #expect(event.sourceIPHashValue == nil)
        }
    }
}
