import MTCrypto

/// The text forms of a secret (PROTOCOL.md §1): hex is written, hex and base64url are read.
extension ProxySecret {
    /// tdlib truncates longer domains (`MAX_DOMAIN_LENGTH`), so a longer one would not work.
    public static let maximumDomainLength = 182

    /// Parses a secret as clients accept it: hex first, then base64url (standard base64
    /// and padding tolerated). 16 bytes is classic, `dd` + 16 secure, `ee` + 16 + domain
    /// fake TLS.
    public init(name: String, text: some StringProtocol) throws(ProxySecretError) {
        var trimmed = Substring(text)
        while trimmed.first?.isWhitespace == true { trimmed.removeFirst() }
        while trimmed.last?.isWhitespace == true { trimmed.removeLast() }
        let candidate = String(trimmed)
        let allHex = !candidate.isEmpty && candidate.utf8.allSatisfy { Self.isHexDigit($0) }
        let bytes: [UInt8]
        if candidate.isEmpty {
            throw .notHexOrBase64
        } else if let hex = [UInt8](hex: candidate) {
            bytes = hex
        } else if Self.looksLikeKeyAndTextDomain(candidate) {
            throw .domainNotHex
        } else if let decoded = Self.base64URLDecode(candidate), Self.isAcceptedLength(decoded) {
            bytes = decoded
        } else if allHex {
            throw .badHexLength(characters: candidate.utf8.count)
        } else {
            throw .notHexOrBase64
        }
        try self.init(name: name, bytes: bytes)
    }

    /// Interprets raw secret bytes (`tdlib/td:td/mtproto/ProxySecret.cpp` `from_binary`).
    public init(name: String, bytes: [UInt8]) throws(ProxySecretError) {
        switch bytes.count {
        case 16:
            self.init(name: name, form: .classic, key: bytes)
        case 17:
            guard bytes[0] == 0xdd else { throw bytes[0] == 0xee ? .missingDomain : .badPrefix }
            self.init(name: name, form: .secure, key: Array(bytes[1..<17]))
        case 18...:
            guard bytes[0] == 0xee else { throw .badPrefix }
            let domain = try Self.validatedDomain(bytes[17...])
            self.init(name: name, form: .faketls, key: Array(bytes[1..<17]), domain: domain)
        default:
            throw .badLength(bytes: bytes.count)
        }
    }

    /// A fresh secret: 16 CSPRNG bytes.
    public static func generate(name: String, form: Form, domain: String? = nil) throws(ProxySecretError) -> ProxySecret {
        let key = SecureRandom.bytes(16)
        switch form {
        case .classic: return ProxySecret(name: name, form: .classic, key: key)
        case .secure: return ProxySecret(name: name, form: .secure, key: key)
        case .faketls:
            guard let domain else { throw .missingDomain }
            return ProxySecret(name: name, form: .faketls, key: key, domain: try validatedDomain(Array(domain.utf8)[...]))
        }
    }

    /// The raw bytes clients receive: key, `dd` + key, or `ee` + key + domain.
    public var clientBytes: [UInt8] {
        switch form {
        case .classic: key
        case .secure: [0xdd] + key
        case .faketls: [0xee] + key + Array((domain ?? "").utf8)
        }
    }

    /// Lower-case hex of `clientBytes`: what links and configuration files carry.
    public var hexText: String { clientBytes.hexString }

    /// base64url without padding of `clientBytes`, the form tdlib emits for `ee`.
    public var base64URLText: String { Self.base64URLEncode(clientBytes) }

    // MARK: Validation

    private static func validatedDomain(_ bytes: ArraySlice<UInt8>) throws(ProxySecretError) -> String {
        guard !bytes.isEmpty else { throw .missingDomain }
        guard bytes.count <= maximumDomainLength else {
            throw .badDomain("is longer than \(maximumDomainLength) characters, which clients truncate")
        }
        guard bytes.allSatisfy({ isHostByte($0) }) else {
            throw .badDomain("may hold only letters, digits, dots and hyphens")
        }
        let text = String(decoding: bytes, as: UTF8.self)
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2 else { throw .badDomain("must be a full host name such as www.example.com") }
        for label in labels {
            guard (1...63).contains(label.count) else { throw .badDomain("has an empty or over-long label") }
            guard label.first != "-", label.last != "-" else { throw .badDomain("has a label starting or ending with a hyphen") }
        }
        guard !labels.last!.allSatisfy({ $0.isNumber }) else {
            throw .badDomain("must be a host name, not an IP address")
        }
        return text
    }

    private static func isAcceptedLength(_ bytes: [UInt8]) -> Bool {
        bytes.count == 16 || (bytes.count == 17 && bytes[0] == 0xdd) || (bytes.count >= 18 && bytes[0] == 0xee)
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"), UInt8(ascii: "A")...UInt8(ascii: "F"): true
        default: false
        }
    }

    private static func isHostByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }

    /// `ee` + 32 hex + readable text: the common mistake of pasting the domain as is.
    private static func looksLikeKeyAndTextDomain(_ text: String) -> Bool {
        let utf8 = Array(text.utf8)
        guard utf8.count > 34, utf8[0] == UInt8(ascii: "e") || utf8[0] == UInt8(ascii: "E"),
              utf8[1] == UInt8(ascii: "e") || utf8[1] == UInt8(ascii: "E") else { return false }
        guard [UInt8](hex: String(decoding: utf8[2..<34], as: UTF8.self)) != nil else { return false }
        return utf8[34...].contains(UInt8(ascii: "."))
    }

    // MARK: base64url

    private static let base64Alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    static func base64URLEncode(_ bytes: [UInt8]) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            let b0 = chunk[chunk.startIndex]
            let b1 = chunk.count > 1 ? chunk[chunk.startIndex + 1] : 0
            let b2 = chunk.count > 2 ? chunk[chunk.startIndex + 2] : 0
            out.append(base64Alphabet[Int(b0 >> 2)])
            out.append(base64Alphabet[Int((b0 & 0x03) << 4 | b1 >> 4)])
            if chunk.count > 1 { out.append(base64Alphabet[Int((b1 & 0x0f) << 2 | b2 >> 6)]) }
            if chunk.count > 2 { out.append(base64Alphabet[Int(b2 & 0x3f)]) }
            index += 3
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes base64url or standard base64, padding optional; nil on anything else.
    static func base64URLDecode(_ text: String) -> [UInt8]? {
        var symbols = Array(text.utf8)
        while symbols.last == UInt8(ascii: "=") { symbols.removeLast() }
        guard !symbols.isEmpty, symbols.count % 4 != 1, symbols.count <= 1024 else { return nil }
        var values: [UInt8] = []
        values.reserveCapacity(symbols.count)
        for symbol in symbols {
            switch symbol {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): values.append(symbol - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): values.append(symbol - UInt8(ascii: "a") + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): values.append(symbol - UInt8(ascii: "0") + 52)
            case UInt8(ascii: "-"), UInt8(ascii: "+"): values.append(62)
            case UInt8(ascii: "_"), UInt8(ascii: "/"): values.append(63)
            default: return nil
            }
        }
        var bytes: [UInt8] = []
        var index = 0
        while index < values.count {
            let group = values[index..<min(index + 4, values.count)]
            let v = Array(group) + Array(repeating: 0, count: 4 - group.count)
            bytes.append(v[0] << 2 | v[1] >> 4)
            if group.count > 2 { bytes.append((v[1] & 0x0f) << 4 | v[2] >> 2) }
            if group.count > 3 { bytes.append((v[2] & 0x03) << 6 | v[3]) }
            index += 4
        }
        return bytes
    }
}
