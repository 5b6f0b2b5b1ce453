import MTCrypto

/// The proxy's own obfuscated2 init packet towards a DC in direct mode (PROTOCOL.md §3.1):
/// no secret, the client's tag and signed DC index, and, in fast mode (§3.2), key
/// material chosen so that the DC → proxy keystream *is* the proxy → client keystream.
public struct UpstreamHandshake {
    /// The 64 bytes to send first: `N'[0,56)` in clear, then the encrypted `[56,64)`.
    public let header: [UInt8]
    /// Proxy → DC cipher, already past the 64 header bytes.
    public let encryptor: AESCTR
    /// DC → proxy key and IV (`reverse(N'[8,56))` split 32/16, no hash). In fast mode they
    /// equal the client handshake's reply key and IV.
    public let replyKey: [UInt8]
    public let replyIV: [UInt8]

    /// - Parameters:
    ///   - fastModeReply: the client leg's proxy → client key and IV; nil for a plain header
    ///     whose DC → proxy bytes would need re-encryption.
    ///   - random: fills the 64-byte packet; called again until no forbidden prefix holds.
    public init(
        tag: ProtocolTag,
        dc: Int,
        fastModeReply: (key: [UInt8], iv: [UInt8])?,
        random: (inout [UInt8]) -> Void = SecureRandom.fill
    ) {
        var packet = [UInt8](repeating: 0, count: Obfuscated2.headerLength)
        repeat {
            random(&packet)
        } while UpstreamHandshake.isForbidden(packet)
        if let reply = fastModeReply {
            precondition(reply.key.count == 32 && reply.iv.count == 16, "fast mode needs a 32-byte key and a 16-byte IV")
            packet.replaceSubrange(Obfuscated2.keyAndIVRange, with: (reply.key + reply.iv).reversed())
        }
        let t = Obfuscated2.tagOffset
        for index in t..<t + 4 { packet[index] = tag.byte }
        let index = UInt16(bitPattern: Int16(truncatingIfNeeded: dc))
        packet[Obfuscated2.dcOffset] = UInt8(truncatingIfNeeded: index)
        packet[Obfuscated2.dcOffset + 1] = UInt8(truncatingIfNeeded: index >> 8)

        let encryptor = AESCTR(key: packet[Obfuscated2.keyRange], iv: packet[Obfuscated2.ivRange])
        let encrypted = encryptor.transform(packet)
        let reversed = Array(packet[Obfuscated2.keyAndIVRange].reversed())
        self.header = Array(packet[0..<t]) + encrypted[t...]
        self.encryptor = encryptor
        self.replyKey = Array(reversed[0..<32])
        self.replyIV = Array(reversed[32..<48])
    }

    /// PROTOCOL.md §2.2: prefixes a server could mistake for another transport.
    public static func isForbidden(_ packet: [UInt8]) -> Bool {
        guard packet.count >= 8 else { return true }
        if packet[0] == 0xef { return true }
        let first = UInt32(packet[0]) << 24 | UInt32(packet[1]) << 16 | UInt32(packet[2]) << 8 | UInt32(packet[3])
        if forbiddenFirstWords.contains(first) { return true }
        return packet[4] == 0 && packet[5] == 0 && packet[6] == 0 && packet[7] == 0
    }

    /// `HEAD`, `POST`, `GET `, `OPTI`, TLS ClientHello start, plain padded / intermediate markers.
    static let forbiddenFirstWords: Set<UInt32> = [
        0x4845_4144, 0x504f_5354, 0x4745_5420, 0x4f50_5449, 0x1603_0102, 0xdddd_dddd, 0xeeee_eeee,
    ]
}
