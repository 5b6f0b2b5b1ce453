import MTCrypto

/// The secrets a snapshot must never contain, each in every form it may be written in,
/// with the fingerprint that replaces it. A fingerprint is `redacted-sha256-` and 16
/// hex digits of the SHA-256 of the secret (of the 16-byte key for an MTProto secret,
/// so `dd`, `ee`, classic and base64 forms of one key share a fingerprint): the same
/// secret can be recognised across artifacts and snapshots, and never recovered.
public struct SecretInventory: Sendable {
    public static let fingerprintPrefix = "redacted-sha256-"
    /// Free-form secrets shorter than this are replaced only where the configuration
    /// holds them, not searched for everywhere (a short password would hit ordinary text).
    public static let minimumSearchLength = 6

    struct Pattern: Sendable {
        var bytes: [UInt8]
        /// Hexadecimal forms match in either case; the bytes are stored lower-case.
        var caseInsensitive: Bool
        var fingerprint: [UInt8]
    }

    private(set) var patterns: [Pattern] = []
    private var fingerprints = Set<String>()

    public init() {}

    /// How many distinct secrets are known.
    public var count: Int { fingerprints.count }
    public var isEmpty: Bool { patterns.isEmpty }
    var longestPattern: Int { patterns.map(\.bytes.count).max() ?? 0 }

    public static func fingerprint(of bytes: some Sequence<UInt8>) -> String {
        fingerprintPrefix + SHA256.hash(bytes).prefix(8).hexString
    }

    /// Adds a secret as found in a configuration, and returns its fingerprint. MTProto
    /// proxy secrets (16-byte keys, `dd` + key, `ee` + key + domain, in hex or base64)
    /// are recognised and all their forms searched for.
    @discardableResult
    public mutating func add(_ text: String) -> String {
        let trimmed = text.trimmingASCIIWhitespace
        if let key = Self.proxyKey(in: trimmed) {
            let fingerprint = Self.fingerprint(of: key.key)
            register(fingerprint: fingerprint, forms: key.forms)
            return fingerprint
        }
        let fingerprint = Self.fingerprint(of: trimmed.utf8)
        if trimmed.utf8.count >= Self.minimumSearchLength {
            register(fingerprint: fingerprint, forms: [(Array(trimmed.utf8), false)])
        } else {
            fingerprints.insert(fingerprint)
        }
        return fingerprint
    }

    private mutating func register(fingerprint: String, forms: [([UInt8], Bool)]) {
        fingerprints.insert(fingerprint)
        for (bytes, caseInsensitive) in forms where !bytes.isEmpty {
            let stored = caseInsensitive ? bytes.map(Self.lowercased) : bytes
            guard !patterns.contains(where: { $0.bytes == stored && $0.caseInsensitive == caseInsensitive }) else { continue }
            patterns.append(Pattern(bytes: stored, caseInsensitive: caseInsensitive, fingerprint: Array(fingerprint.utf8)))
        }
        // Longest first, so that a full `ee` secret wins over the key inside it.
        patterns.sort { $0.bytes.count > $1.bytes.count }
    }

    /// The key and every written form of an MTProto secret, if `text` is one.
    private static func proxyKey(in text: String) -> (key: [UInt8], forms: [([UInt8], Bool)])? {
        var raw: [UInt8]? = [UInt8](hex: text)
        if raw == nil { raw = Base64.decode(text) }
        guard let bytes = raw else { return nil }
        let key: [UInt8]
        switch (bytes.count, bytes.first) {
        case (16, _): key = bytes
        case (17, 0xdd): key = Array(bytes[1..<17])
        case (18..., 0xee): key = Array(bytes[1..<17])
        default: return nil
        }
        var forms: [([UInt8], Bool)] = [(Array(text.utf8), false)]
        for value in [bytes, key] {
            forms.append((Array(value.hexString.utf8), true))
            forms.append((Array(Base64.encode(value, urlSafe: false, padded: false).utf8), false))
            forms.append((Array(Base64.encode(value, urlSafe: true, padded: false).utf8), false))
        }
        return (key, forms)
    }

    static func lowercased(_ byte: UInt8) -> UInt8 {
        (65...90).contains(byte) ? byte | 0x20 : byte
    }
}

extension String {
    var trimmingASCIIWhitespace: String {
        let bytes = Array(utf8)
        let isSpace: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0a || $0 == 0x0d }
        guard let first = bytes.firstIndex(where: { !isSpace($0) }),
              let last = bytes.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(decoding: bytes[first...last], as: UTF8.self)
    }
}

/// Base64 (RFC 4648 §4) and base64url (§5), for the forms secrets are shared in.
enum Base64 {
    private static let standard = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let url = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func encode(_ bytes: [UInt8], urlSafe: Bool, padded: Bool) -> String {
        let alphabet = urlSafe ? url : standard
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let chunk = Array(bytes[index..<min(index + 3, bytes.count)])
            let value = chunk.enumerated().reduce(UInt32(0)) { $0 | UInt32($1.element) << (16 - 8 * UInt32($1.offset)) }
            let characters = chunk.count + 1
            for position in 0..<4 {
                if position < characters {
                    out.append(alphabet[Int(value >> (18 - 6 * UInt32(position)) & 0x3f)])
                } else if padded {
                    out.append(UInt8(ascii: "="))
                }
            }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes either alphabet, padded or not; nil on anything else.
    static func decode(_ text: String) -> [UInt8]? {
        var digits: [UInt32] = []
        var seenPadding = false
        for byte in text.utf8 {
            if byte == UInt8(ascii: "=") { seenPadding = true; continue }
            guard !seenPadding else { return nil }
            if let index = standard.firstIndex(of: byte) {
                digits.append(UInt32(index))
            } else if byte == UInt8(ascii: "-") {
                digits.append(62)
            } else if byte == UInt8(ascii: "_") {
                digits.append(63)
            } else {
                return nil
            }
        }
        guard !digits.isEmpty, digits.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        var index = 0
        while index < digits.count {
            let group = Array(digits[index..<min(index + 4, digits.count)])
            let value = group.enumerated().reduce(UInt32(0)) { $0 | $1.element << (18 - 6 * UInt32($1.offset)) }
            for position in 0..<(group.count - 1) {
                out.append(UInt8(truncatingIfNeeded: value >> (16 - 8 * UInt32(position))))
            }
            index += 4
        }
        return out
    }
}
