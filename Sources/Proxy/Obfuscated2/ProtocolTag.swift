import EventLog

/// The MTProto transport a client announces at bytes `[56,60)` of its init packet
/// (PROTOCOL.md §2.1). The proxy only relays; the tag decides which configured
/// transport the connection counts as and is repeated towards the DC.
public enum ProtocolTag: Sendable, Hashable, CaseIterable {
    /// `ef ef ef ef`
    case abridged
    /// `ee ee ee ee`
    case intermediate
    /// `dd dd dd dd`: padded intermediate, what `dd` and `ee` secrets make clients speak.
    case paddedIntermediate

    /// The byte repeated four times on the wire.
    public var byte: UInt8 {
        switch self {
        case .abridged: 0xef
        case .intermediate: 0xee
        case .paddedIntermediate: 0xdd
        }
    }

    /// Reads a tag from its four decrypted bytes; nil unless all four are one known value.
    public init?(_ b0: UInt8, _ b1: UInt8, _ b2: UInt8, _ b3: UInt8) {
        guard b0 == b1, b1 == b2, b2 == b3 else { return nil }
        switch b0 {
        case 0xef: self = .abridged
        case 0xee: self = .intermediate
        case 0xdd: self = .paddedIntermediate
        default: return nil
        }
    }

    /// The configured transport a client using this tag speaks: `.faketls` whenever the
    /// obfuscated2 stream arrived inside fake-TLS records, else by tag.
    public func transport(insideFakeTLS: Bool) -> ProxyTransport {
        if insideFakeTLS { return .faketls }
        return self == .paddedIntermediate ? .secure : .classic
    }
}
