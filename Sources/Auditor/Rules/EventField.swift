import EventLog

/// A field of an event that rules match on and group by, named by its key in the log.
public enum EventField: Hashable, Sendable, CustomStringConvertible {
    case action, outcome, reason
    /// `source.prefix` is taken from the event, or derived from `source.ip` (/24, /48)
    /// when the producer wrote only the address.
    case sourceIP, sourcePort, sourceIPHash, sourcePrefix
    /// `source.address`: `source.ip` where the privacy mode wrote it, else `source.ip_hash`,
    /// so one rule follows a client whether the log is `full` or `minimized`.
    case sourceAddress
    case sessionID, instance, listener, transport, secretName, dc
    case bytesIn, bytesOut, duration
    case label(String)

    static let named: [String: EventField] = [
        "event.action": .action, "event.outcome": .outcome, "event.reason": .reason,
        "source.ip": .sourceIP, "source.port": .sourcePort, "source.ip_hash": .sourceIPHash,
        "source.prefix": .sourcePrefix, "source.address": .sourceAddress, "session.id": .sessionID,
        "proxy.instance": .instance, "proxy.listener": .listener, "proxy.transport": .transport,
        "mt.secret": .secretName, "mt.dc": .dc, "network.bytes_in": .bytesIn,
        "network.bytes_out": .bytesOut, "event.duration_ms": .duration,
    ]

    public init?(name: String) {
        if let field = Self.named[name] {
            self = field
        } else if name.hasPrefix("labels."), name.count > "labels.".count {
            self = .label(String(name.dropFirst("labels.".count)))
        } else {
            return nil
        }
    }

    public var description: String {
        if case .label(let name) = self { return "labels.\(name)" }
        return Self.named.first { $0.value == self }!.key
    }

    /// Fields whose values are addresses or networks: they take `cidr` conditions and
    /// can be the target of a ban.
    public var isAddress: Bool {
        switch self {
        case .sourceIP, .sourcePrefix, .sourceAddress, .sourceIPHash: true
        default: false
        }
    }

    var isNumeric: Bool {
        switch self {
        case .sourcePort, .dc, .bytesIn, .bytesOut, .duration, .label: true
        default: false
        }
    }

    /// The field's value as text, as it appears in the log; nil when the event lacks it.
    public func text(of event: Event) -> String? {
        switch self {
        case .action: event.action.rawValue
        case .outcome: event.outcome?.rawValue
        case .reason: event.reason
        case .sourceIP: event.sourceIP
        case .sourcePort: event.sourcePort.map { String($0) }
        case .sourceIPHash: event.sourceIPHash
        case .sourcePrefix: event.sourcePrefix ?? event.sourceIP.flatMap(Self.prefix(of:))
        case .sourceAddress: event.sourceIP ?? event.sourceIPHash
        case .sessionID: event.sessionID
        case .instance: event.instance
        case .listener: event.listener
        case .transport: event.transport?.rawValue
        case .secretName: event.secretName
        case .dc: event.dc.map { String($0) }
        case .bytesIn: event.bytesIn.map { String($0) }
        case .bytesOut: event.bytesOut.map { String($0) }
        case .duration: event.durationMilliseconds.map { String($0) }
        case .label(let name): event.labels[name]
        }
    }

    /// The /24 or /48 of an address. Dotted-quad IPv4, the common case, is cut as text
    /// (after checking it is one) rather than parsed and formatted back.
    static func prefix(of address: String) -> String? {
        if let cut = ipv4PrefixLength(of: address) {
            return FieldText.derivedPrefix(address, cut: cut).withBytes { String(decoding: $0, as: UTF8.self) }
        }
        return IPAddress(address)?.eventPrefix.description
    }

    /// The length of `a.b.c.` when `address` is a canonical dotted quad, else nil: an
    /// octet at a time over its bytes in place (every failed handshake's derived
    /// `source.prefix` passes here).
    static func ipv4PrefixLength(of address: String) -> Int? {
        var address = address
        return address.withUTF8 { bytes in
            let count = bytes.count
            guard count >= 7, count <= 15 else { return nil }
            var index = 0, octets = 0, thirdDot = 0
            while true {
                let start = index
                var value = 0
                while index < count, bytes[index] &- UInt8(ascii: "0") < 10 {
                    value = value * 10 + Int(bytes[index] &- UInt8(ascii: "0"))
                    index += 1
                }
                let digits = index - start
                guard digits >= 1, digits <= 3, value <= 255, digits == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
                octets += 1
                if octets == 4 { return index == count ? thirdDot : nil }
                guard index < count, bytes[index] == UInt8(ascii: ".") else { return nil }
                index += 1
                if octets == 3 { thirdDot = index }
            }
        }
    }

    /// What a decoder must keep for `text(of:)` to see this field.
    var decoded: EventFieldSet {
        switch self {
        case .action: []
        case .outcome: .outcome
        case .reason: .reason
        case .sourceIP: .sourceIP
        case .sourcePort: .sourcePort
        case .sourceIPHash: .sourceIPHash
        case .sourcePrefix: [.sourcePrefix, .sourceIP]
        case .sourceAddress: [.sourceIP, .sourceIPHash]
        case .sessionID: .sessionID
        case .instance: .instance
        case .listener: .listener
        case .transport: .transport
        case .secretName: .secretName
        case .dc: .dc
        case .bytesIn: .bytesIn
        case .bytesOut: .bytesOut
        case .duration: .duration
        case .label: .labels
        }
    }

    /// The field's value as a number, for comparisons; nil when absent or not numeric.
    func number(of event: Event) -> Double? {
        switch self {
        case .sourcePort: event.sourcePort.map { Double($0) }
        case .dc: event.dc.map { Double($0) }
        case .bytesIn: event.bytesIn.map { Double($0) }
        case .bytesOut: event.bytesOut.map { Double($0) }
        case .duration: event.durationMilliseconds.map { Double($0) }
        default: text(of: event).flatMap { Double($0) }
        }
    }
}

/// A field's value as `EventField.text(of:)` spells it, held without making a new
/// `String`: the event's own text, its packed `ip_hash`, or for a `source.prefix` derived
/// from a dotted quad the address's first `cut` bytes followed by `0/24`. The engine's hot
/// path reads it as bytes.
enum FieldText {
    case text(String)
    case hash(IPHashValue)
    case derivedPrefix(String, cut: Int)

    init(_ text: String) {
        self = .text(text)
    }

    /// Calls `body` with the value's UTF-8 bytes; a packed hash or a derived prefix is
    /// spelled on the stack.
    @inline(__always)
    func withBytes<Result>(_ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        switch self {
        case .text(let text):
            return Self.withUTF8(text, body)
        case .hash(let hash):
            return hash.withUTF8(body)
        case .derivedPrefix(let address, let cut):
            return Self.withUTF8(address) { address in
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: cut + 4) { buffer in
                    _ = buffer.initialize(from: address[..<cut])
                    _ = buffer[cut...].initialize(from: "0/24".utf8)
                    return body(UnsafeBufferPointer(buffer))
                }
            }
        }
    }

    @inline(__always)
    private static func withUTF8<Result>(_ text: String, _ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        if let result = text.utf8.withContiguousStorageIfAvailable(body) { return result }
        var text = text
        return text.withUTF8(body)
    }
}

extension EventField {
    /// `text(of:)` as a `FieldText`: no `String` is made for the fields the shipped rules
    /// group by (addresses, hashes, prefixes), derived or not.
    @inline(__always)
    func fieldText(of event: Event) -> FieldText? {
        switch self {
        case .reason: return event.reason.map { FieldText($0) }
        case .sourceIP: return event.sourceIP.map { FieldText($0) }
        case .sourceIPHash: return event.sourceIPHashValue.map { FieldText.hash($0) }
        case .sourceAddress:
            if let address = event.sourceIP { return FieldText(address) }
            return event.sourceIPHashValue.map { FieldText.hash($0) }
        case .sourcePrefix:
            if let prefix = event.sourcePrefix { return FieldText(prefix) }
            guard let address = event.sourceIP else { return nil }
            if let cut = Self.ipv4PrefixLength(of: address) { return FieldText.derivedPrefix(address, cut: cut) }
            return Self.prefix(of: address).map { FieldText($0) }
        default:
            return text(of: event).map { FieldText($0) }
        }
    }
}
