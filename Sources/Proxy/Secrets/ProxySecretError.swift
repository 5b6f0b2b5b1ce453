/// Why secret text was refused. No case carries the text itself: an error message must
/// never reveal a secret, not even a mistyped one.
public enum ProxySecretError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Neither hex nor base64url.
    case notHexOrBase64
    /// Decoded to a byte count no client accepts.
    case badLength(bytes: Int)
    /// Only hex digits, but an odd count of them.
    case badHexLength(characters: Int)
    /// 17 or more bytes whose first byte is not `dd` (17) or `ee` (18+).
    case badPrefix
    /// `ee` with the 16-byte key and nothing after it.
    case missingDomain
    /// `ee` + 32 hex + a domain written as text instead of hex.
    case domainNotHex
    /// The domain of an `ee` secret is not a host name clients can use.
    case badDomain(String)

    public var description: String {
        let forms = "expected 32 hex characters (classic), dd + 32 (secure) or ee + 32 + the domain in hex (fake TLS), in hex or base64url"
        switch self {
        case .notHexOrBase64:
            return "secret is neither hex nor base64url; \(forms)"
        case .badLength(let bytes):
            return "secret decodes to \(bytes) bytes; \(forms)"
        case .badHexLength(let characters):
            return "secret has \(characters) hex characters; \(forms)"
        case .badPrefix:
            return "a secret longer than 16 bytes must start with dd (17 bytes) or ee (18 or more); \(forms)"
        case .missingDomain:
            return "an ee secret needs the fronting domain, in hex, after the 32 hex characters of the key"
        case .domainNotHex:
            return "the domain after the key of an ee secret must be written in hex too (ee + key + hex of the domain); `mtproxy secret generate --domain D` prints one"
        case .badDomain(let reason):
            return "the domain of the ee secret \(reason)"
        }
    }
}
