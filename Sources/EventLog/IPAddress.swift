/// An IPv4 or IPv6 address as bytes, without any socket machinery, so that the event
/// schema, the blocklist and the auditor share one notion of an address and a prefix.
public enum IPAddress: Sendable, Hashable, CustomStringConvertible {
    case v4(UInt32)
    case v6(UInt64, UInt64)

    /// As `init?(_ text: String)`, for a substring or other text.
    public init?(_ text: some StringProtocol) {
        self.init(String(text))
    }

    /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text (with `::` compression and an
    /// embedded IPv4 tail). IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes `.v4`. A dotted
    /// quad is read from the string's bytes in place (every decision the auditor makes
    /// checks its value this way; the generic form was not specialised across modules).
    public init?(_ text: String) {
        if let v4 = text.utf8.withContiguousStorageIfAvailable({ IPAddress.parseV4($0) }) ?? IPAddress.parseV4(text.utf8) {
            self = .v4(v4)
        } else if let v6 = IPAddress.parseV6(Substring(text)) {
            self = IPAddress(bytes16: v6)
        } else {
            return nil
        }
    }

    /// From raw network-order bytes: 4 (IPv4) or 16 (IPv6; mapped IPv4 is unwrapped).
    public init?(bytes: some Collection<UInt8>) {
        let array = Array(bytes)
        switch array.count {
        case 4: self = .v4(array.reduce(0) { $0 << 8 | UInt32($1) })
        case 16: self = IPAddress(bytes16: array)
        default: return nil
        }
    }

    private init(bytes16: [UInt8]) {
        let high = bytes16[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let low = bytes16[8..<16].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        if high == 0 && low >> 32 == 0xffff {
            self = .v4(UInt32(truncatingIfNeeded: low))
        } else {
            self = .v6(high, low)
        }
    }

    public var isIPv4: Bool { if case .v4 = self { true } else { false } }
    public var bitWidth: Int { isIPv4 ? 32 : 128 }

    /// Network-order bytes: 4 or 16.
    public var bytes: [UInt8] {
        switch self {
        case .v4(let value):
            return (0..<4).map { UInt8(truncatingIfNeeded: value >> (24 - 8 * $0)) }
        case .v6(let high, let low):
            return (0..<8).map { UInt8(truncatingIfNeeded: high >> (56 - 8 * $0)) }
                + (0..<8).map { UInt8(truncatingIfNeeded: low >> (56 - 8 * $0)) }
        }
    }

    /// The address with every bit after the first `length` cleared.
    public func masked(to length: Int) -> IPAddress {
        switch self {
        case .v4(let value):
            let bits = max(0, min(32, length))
            let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << (32 - bits)
            return .v4(value & mask)
        case .v6(let high, let low):
            let bits = max(0, min(128, length))
            let highMask: UInt64 = bits >= 64 ? ~0 : (bits == 0 ? 0 : ~UInt64(0) << (64 - bits))
            let lowMask: UInt64 = bits <= 64 ? 0 : (bits == 128 ? ~0 : ~UInt64(0) << (128 - bits))
            return .v6(high & highMask, low & lowMask)
        }
    }

    /// The /24 (IPv4) or /48 (IPv6) network, as written in `source.prefix`.
    public var eventPrefix: CIDR {
        CIDR(unchecked: masked(to: isIPv4 ? 24 : 48), length: isIPv4 ? 24 : 48)
    }

    public var description: String {
        switch self {
        case .v4(let value):
            // Every event carries an address as text: format without intermediate arrays.
            return String(unsafeUninitializedCapacity: 15) { out in
                var count = 0
                for shift in stride(from: 24, through: 0, by: -8) {
                    let octet = UInt8(truncatingIfNeeded: value >> UInt32(shift))
                    if octet >= 100 { out[count] = 0x30 + octet / 100; count += 1 }
                    if octet >= 10 { out[count] = 0x30 + octet / 10 % 10; count += 1 }
                    out[count] = 0x30 + octet % 10
                    count += 1
                    if shift > 0 { out[count] = UInt8(ascii: "."); count += 1 }
                }
                return count
            }
        case .v6:
            return IPAddress.formatV6(bytes)
        }
    }

    /// Four decimal octets of one to three ASCII digits, no leading zero. On UTF-8 bytes:
    /// every accepted connection's address passes here.
    private static func parseV4(_ text: some Collection<UInt8>) -> UInt32? {
        var value: UInt32 = 0
        var octet: UInt32 = 0
        var digits = 0
        var dots = 0
        var leadingZero = false
        for byte in text {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, dots < 3 else { return nil }
                value = value << 8 | octet
                dots += 1
                octet = 0
                digits = 0
            } else if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                if digits == 0 { leadingZero = byte == UInt8(ascii: "0") } else if leadingZero { return nil }
                digits += 1
                octet = octet * 10 + UInt32(byte - UInt8(ascii: "0"))
                guard digits <= 3, octet <= 255 else { return nil }
            } else {
                return nil
            }
        }
        guard dots == 3, digits > 0 else { return nil }
        return value << 8 | octet
    }

    private static func parseV6(_ text: Substring) -> [UInt8]? {
        guard text.count >= 2, text.count <= 45 else { return nil }
        var head: [UInt16] = []
        var tail: [UInt16] = []
        var sawGap = false
        var pieces: [String] = []
        var rest = Substring(text)
        while let gap = rest.firstRange(of: "::") {
            pieces.append(String(rest[..<gap.lowerBound]))
            rest = rest[gap.upperBound...]
        }
        pieces.append(String(rest))
        guard pieces.count <= 2 else { return nil }
        func groups(_ part: String, allowV4Tail: Bool) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            let fields = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, field) in fields.enumerated() {
                if index == fields.count - 1, allowV4Tail, field.contains(".") {
                    guard let v4 = parseV4(field.utf8) else { return nil }
                    out.append(UInt16(v4 >> 16))
                    out.append(UInt16(v4 & 0xffff))
                } else {
                    guard (1...4).contains(field.count), let group = UInt16(field, radix: 16) else { return nil }
                    out.append(group)
                }
            }
            return out
        }
        if pieces.count == 2 {
            sawGap = true
            guard let h = groups(pieces[0], allowV4Tail: false), let t = groups(pieces[1], allowV4Tail: true) else { return nil }
            head = h
            tail = t
            guard head.count + tail.count <= 7 else { return nil }
        } else {
            guard let all = groups(pieces[0], allowV4Tail: true), all.count == 8 else { return nil }
            head = all
        }
        let zeros = sawGap ? 8 - head.count - tail.count : 0
        let all = head + Array(repeating: 0, count: zeros) + tail
        guard all.count == 8 else { return nil }
        return all.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
    }

    private static func formatV6(_ bytes: [UInt8]) -> String {
        let groups = (0..<8).map { UInt16(bytes[2 * $0]) << 8 | UInt16(bytes[2 * $0 + 1]) }
        // RFC 5952: compress the longest run of two or more zero groups, the first if tied.
        var bestStart = -1, bestLength = 0, index = 0
        while index < 8 {
            if groups[index] == 0 {
                var end = index
                while end < 8 && groups[end] == 0 { end += 1 }
                if end - index > bestLength && end - index >= 2 { bestStart = index; bestLength = end - index }
                index = end
            } else {
                index += 1
            }
        }
        func hex(_ range: Range<Int>) -> String {
            groups[range].map { String($0, radix: 16) }.joined(separator: ":")
        }
        if bestStart < 0 { return hex(0..<8) }
        return hex(0..<bestStart) + "::" + hex((bestStart + bestLength)..<8)
    }
}

/// An address prefix such as `203.0.113.0/24` or `2001:db8::/48`.
public struct CIDR: Sendable, Hashable, CustomStringConvertible {
    public let network: IPAddress
    public let length: Int

    init(unchecked network: IPAddress, length: Int) {
        self.network = network
        self.length = length
    }

    /// Accepts `a.b.c.d/n`, `v6/n`, or a bare address (a /32 or /128). Host bits set
    /// below the prefix are rejected, as a typo would otherwise block the wrong network.
    /// Read from the string's bytes: every ban of a network checks its value this way.
    public init?(_ text: String) {
        let utf8 = text.utf8
        guard let slash = utf8.firstIndex(of: UInt8(ascii: "/")) else {
            guard let address = IPAddress(text) else { return nil }
            self.network = address
            self.length = address.bitWidth
            return
        }
        guard let address = IPAddress(String(text[..<slash])) else { return nil }
        var length = 0
        var digits = 0
        for byte in utf8[utf8.index(after: slash)...] {
            guard byte &- UInt8(ascii: "0") < 10 else { return nil }
            let (scaled, overflow) = length.multipliedReportingOverflow(by: 10)
            guard !overflow else { return nil }
            length = scaled + Int(byte &- UInt8(ascii: "0"))
            digits += 1
        }
        guard digits > 0, length <= address.bitWidth, address.masked(to: length) == address else { return nil }
        self.network = address
        self.length = length
    }

    /// As `init?(_ text: String)`, for a substring or other text.
    public init?(_ text: some StringProtocol) {
        self.init(String(text))
    }

    public func contains(_ address: IPAddress) -> Bool {
        address.isIPv4 == network.isIPv4 && address.masked(to: length) == network
    }

    public var description: String { network.description + "/" + String(length) }
}
