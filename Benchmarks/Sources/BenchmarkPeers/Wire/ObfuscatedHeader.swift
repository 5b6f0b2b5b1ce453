import MTCrypto

/// The 64-byte obfuscated2 init packet and the two keystreams it fixes.
///
/// With a secret it is what a client sends a proxy (PROTOCOL.md §2.1–2.4); without one it is
/// what a proxy sends a DC in direct mode (§3.1), so the same type serves the load client
/// (initiator, with the proxy's secret) and the fake DC (responder, keyless).
public struct ObfuscatedHeader: Sendable {
    public static let length = 64

    /// The plaintext packet `N`.
    public let packet: [UInt8]
    /// The 16-byte key after any `dd`/`ee` prefix; nil on the keyless proxy→DC leg.
    public let secret: [UInt8]?

    public init(packet: [UInt8], secret: [UInt8]?) {
        precondition(packet.count == Self.length, "an obfuscated2 header is 64 bytes")
        precondition(secret.map { $0.count == 16 } ?? true, "the obfuscated2 secret is 16 bytes")
        self.packet = packet
        self.secret = secret
    }

    /// A fresh header that no server could mistake for another transport (§2.2), with the
    /// protocol tag and DC index in place (§2.1).
    public static func random(tag: ProtocolTag, dc: Int16, secret: [UInt8]?) -> ObfuscatedHeader {
        var packet = SecureRandom.bytes(length)
        while isReserved(packet) {
            packet = SecureRandom.bytes(length)
        }
        withUnsafeBytes(of: tag.rawValue.littleEndian) { packet.replaceSubrange(56..<60, with: $0) }
        withUnsafeBytes(of: dc.littleEndian) { packet.replaceSubrange(60..<62, with: $0) }
        return ObfuscatedHeader(packet: packet, secret: secret)
    }

    static func isReserved(_ packet: [UInt8]) -> Bool {
        if packet[0] == 0xef { return true }
        let head = Array(packet[0..<4])
        let reservedStarts: [[UInt8]] = [
            Array("HEAD".utf8), Array("POST".utf8), Array("GET ".utf8), Array("OPTI".utf8),
            [0x16, 0x03, 0x01, 0x02], [0xdd, 0xdd, 0xdd, 0xdd], [0xee, 0xee, 0xee, 0xee],
        ]
        if reservedStarts.contains(head) { return true }
        return packet[4..<8].allSatisfy { $0 == 0 }
    }

    public struct KeyAndIV: Sendable, Equatable {
        public let key: [UInt8]
        public let iv: [UInt8]
    }

    /// The keystream of the side that sent the header (client→proxy, proxy→DC).
    public var initiatorToResponder: KeyAndIV {
        KeyAndIV(key: derivedKey(Array(packet[8..<40])), iv: Array(packet[40..<56]))
    }

    /// The keystream of the side that received it: the reverse of `N[8,56)` split 32/16.
    public var responderToInitiator: KeyAndIV {
        let reversed = Array(packet[8..<56].reversed())
        return KeyAndIV(key: derivedKey(Array(reversed[0..<32])), iv: Array(reversed[32..<48]))
    }

    private func derivedKey(_ material: [UInt8]) -> [UInt8] {
        guard let secret else { return material }
        return SHA256.hash(material + secret)
    }

    /// The initiator's view: the 64 bytes to send (`N[0,56)` in clear, `[56,64)` encrypted)
    /// and its ciphers, the encryptor already at keystream offset 64.
    public func initiatorLeg() -> (wire: [UInt8], leg: CipherLeg) {
        let sending = initiatorToResponder
        let receiving = responderToInitiator
        let encryptor = AESCTR(key: sending.key, iv: sending.iv)
        let decryptor = AESCTR(key: receiving.key, iv: receiving.iv)
        let encrypted = encryptor.transform(packet)
        return (Array(packet[0..<56] + encrypted[56..<64]), CipherLeg(outbound: encryptor, inbound: decryptor))
    }

    /// The responder's view of 64 received bytes: the tag and DC index it carries and the
    /// ciphers, the decryptor already at keystream offset 64.
    public static func accept(wire: [UInt8], secret: [UInt8]?) -> (tag: UInt32, dc: Int16, leg: CipherLeg) {
        let header = ObfuscatedHeader(packet: wire, secret: secret)
        let receiving = header.initiatorToResponder
        let sending = header.responderToInitiator
        let decryptor = AESCTR(key: receiving.key, iv: receiving.iv)
        let encryptor = AESCTR(key: sending.key, iv: sending.iv)
        let plain = decryptor.transform(wire)
        return (tag(in: plain), dcIndex(in: plain), CipherLeg(outbound: encryptor, inbound: decryptor))
    }

    static func tag(in packet: [UInt8]) -> UInt32 {
        packet[56..<60].reversed().reduce(0) { $0 << 8 | UInt32($1) }
    }

    static func dcIndex(in packet: [UInt8]) -> Int16 {
        Int16(bitPattern: UInt16(packet[60]) | UInt16(packet[61]) << 8)
    }

    /// A header the nginx run sends in clear, so both runs carry the same bytes.
    public static func plainWire(tag: ProtocolTag, dc: Int16) -> [UInt8] {
        random(tag: tag, dc: dc, secret: nil).packet
    }

    /// The tag of a header sent in clear.
    public static func plainTag(wire: [UInt8]) -> UInt32 { tag(in: wire) }
}

/// The transport tag at offset 56 of the header (§2.1).
public enum ProtocolTag: UInt32, Sendable, CaseIterable {
    case abridged = 0xefef_efef
    case intermediate = 0xeeee_eeee
    case paddedIntermediate = 0xdddd_dddd
}
