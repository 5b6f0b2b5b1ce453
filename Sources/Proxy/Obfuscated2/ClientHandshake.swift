import MTCrypto

/// Byte layout of the 64-byte obfuscated2 init packet (PROTOCOL.md §2.1).
public enum Obfuscated2 {
    public static let headerLength = 64
    static let keyRange = 8..<40
    static let ivRange = 40..<56
    /// Key and IV material: reversed as one 48-byte block for the opposite direction.
    static let keyAndIVRange = 8..<56
    static let tagOffset = 56
    static let dcOffset = 60
}

/// A client's init packet, authenticated against one configured secret (PROTOCOL.md
/// §2.3–2.4): which secret, which transport, which DC, and the ciphers of the client leg.
public struct ClientHandshake {
    /// The secret whose key decrypted a known tag.
    public let secret: ProxySecret
    public let tag: ProtocolTag
    /// The DC index exactly as the client wrote it (signed: negative for media DCs).
    public let dc: Int
    /// Client → proxy cipher, already past the 64 header bytes.
    public let decryptor: AESCTR
    /// Proxy → client key, `SHA-256(reverse(N[8,56))[0,32) ‖ S)`.
    public let replyKey: [UInt8]
    /// Proxy → client IV, `reverse(N[8,56))[32,48)`.
    public let replyIV: [UInt8]

    /// A fresh proxy → client cipher at keystream offset 0. In fast mode the DC encrypts
    /// with this very keystream, so the relay itself never needs one.
    public func makeReplyEncryptor() -> AESCTR {
        AESCTR(key: replyKey, iv: replyIV)
    }

    /// Authenticates `header` (exactly the first 64 bytes from the wire) against each
    /// secret in turn, as the official proxy, alexbers and telemt do.
    public static func parse(header: some Collection<UInt8>, secrets: [ProxySecret]) throws(Obfuscated2Error) -> ClientHandshake {
        let packet = Array(header)
        guard packet.count == Obfuscated2.headerLength else {
            throw .truncated(count: packet.count)
        }
        var sawUnknownTag = false
        for secret in secrets {
            let key = SHA256.hash(packet[Obfuscated2.keyRange] + secret.key)
            let decryptor = AESCTR(key: key, iv: packet[Obfuscated2.ivRange])
            let plain = decryptor.transform(packet)
            let t = Obfuscated2.tagOffset
            guard let tag = ProtocolTag(plain[t], plain[t + 1], plain[t + 2], plain[t + 3]) else {
                if plain[t] == plain[t + 1], plain[t + 1] == plain[t + 2], plain[t + 2] == plain[t + 3] {
                    sawUnknownTag = true
                }
                continue
            }
            let dc = Int(Int16(bitPattern: UInt16(plain[Obfuscated2.dcOffset]) | UInt16(plain[Obfuscated2.dcOffset + 1]) << 8))
            let reversed = Array(packet[Obfuscated2.keyAndIVRange].reversed())
            return ClientHandshake(
                secret: secret,
                tag: tag,
                dc: dc,
                decryptor: decryptor,
                replyKey: SHA256.hash(reversed[0..<32] + secret.key),
                replyIV: Array(reversed[32..<48])
            )
        }
        throw sawUnknownTag ? .unknownTag : .badSecret
    }
}
