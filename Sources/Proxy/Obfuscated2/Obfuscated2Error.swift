import EventLog

/// Why a client's obfuscated2 init packet was refused. `reason` is the `event.reason`
/// word of the `handshake.failed` event.
public enum Obfuscated2Error: Error, Sendable, Hashable {
    /// No configured key decrypts the packet to a known tag.
    case badSecret
    /// Some key decrypts the tag bytes to four equal bytes that are not `ef`, `ee` or
    /// `dd`: most likely the right key and a transport this proxy does not know.
    case unknownTag
    /// Fewer than 64 bytes were given.
    case truncated(count: Int)

    public var reason: String {
        switch self {
        case .badSecret: EventReason.badSecret
        case .unknownTag: EventReason.unknownTag
        case .truncated: EventReason.malformed
        }
    }
}
