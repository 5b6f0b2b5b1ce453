/// A parsed TLS ClientHello, as a fake-TLS client sends it (PROTOCOL.md §4.2, §4.3.4).
///
/// Built from the single-record image of the hello (`16 03 0x ‖ len16 ‖ 01 ‖ len24 ‖ body`),
/// which is also what the client's HMAC covers. The description leaves out the server
/// names: a client's SNI never goes into a log.
public struct ClientHello: Sendable, Hashable {
    /// Byte range of the random in the single-record image.
    public static let randomRange = 11..<43

    /// `legacy_version` of the handshake, always `0x0303` once parsed.
    public var legacyVersion: UInt16
    /// The 32-byte random as received (digest ‖ XORed timestamp for an MTProto client).
    public var random: [UInt8]
    /// 0–32 bytes; echoed in the ServerHello.
    public var sessionID: [UInt8]
    public var cipherSuites: [UInt16]
    public var compressionMethods: [UInt8]
    /// Extension types in the order the client sent them.
    public var extensionTypes: [UInt16]
    /// `server_name` entries of type `host_name`, lower-cased. Never log these.
    public var serverNames: [String]
    public var supportedGroups: [UInt16]
    /// Groups of the `key_share` entries, in order.
    public var keyShareGroups: [UInt16]
    public var supportedVersions: [UInt16]
    /// ALPN protocol names.
    public var applicationProtocols: [String]
    /// How many TLS records carried the hello on the wire (1 for every Telegram client).
    public var recordCount: Int
    /// The single-record image with the random zeroed: the bytes the client's HMAC covers.
    public var signedImage: [UInt8]

    /// Parses a single-record image. Every length is checked against what encloses it;
    /// anything left over, missing or inconsistent is `malformed` with the field and offset.
    public static func parse(image: [UInt8], recordCount: Int = 1) throws(FakeTLSError) -> ClientHello {
        var record = ByteCursor(image)
        let contentType = try record.readUInt8("record type")
        guard contentType == 0x16 else { throw .malformed("record type", at: 0) }
        let recordVersion = try record.readUInt16("record version")
        guard recordVersion == 0x0301 || recordVersion == 0x0303 else { throw .malformed("record version", at: 1) }
        var handshake = try record.readVector16("record length")
        guard record.isAtEnd else { throw .malformed("bytes after the record", at: record.offset) }

        guard try handshake.readUInt8("handshake type") == 0x01 else { throw .malformed("handshake type", at: 5) }
        var body = try handshake.readVector24("handshake length")
        guard handshake.isAtEnd else { throw .malformed("bytes after the handshake message", at: handshake.offset) }

        let legacyVersion = try body.readUInt16("legacy_version")
        guard legacyVersion == 0x0303 else { throw .malformed("legacy_version", at: 9) }
        let random = Array(try body.read(32, "random"))
        let sessionIDOffset = body.offset
        var sessionIDBytes = try body.readVector8("session_id length")
        guard sessionIDBytes.remaining <= 32 else { throw .malformed("session_id length", at: sessionIDOffset) }
        let sessionID = Array(try sessionIDBytes.read(sessionIDBytes.remaining, "session_id"))

        var suites = try body.readVector16("cipher_suites length")
        guard suites.remaining >= 2, suites.remaining % 2 == 0 else {
            throw .malformed("cipher_suites length", at: suites.offset - 2)
        }
        var cipherSuites: [UInt16] = []
        cipherSuites.reserveCapacity(suites.remaining / 2)
        while !suites.isAtEnd { cipherSuites.append(try suites.readUInt16("cipher suite")) }

        var compression = try body.readVector8("compression_methods length")
        guard compression.remaining >= 1 else { throw .malformed("compression_methods length", at: compression.offset - 1) }
        let compressionMethods = Array(try compression.read(compression.remaining, "compression method"))

        var hello = ClientHello(
            legacyVersion: legacyVersion, random: random, sessionID: sessionID,
            cipherSuites: cipherSuites, compressionMethods: compressionMethods,
            extensionTypes: [], serverNames: [], supportedGroups: [], keyShareGroups: [],
            supportedVersions: [], applicationProtocols: [], recordCount: recordCount,
            signedImage: image)
        hello.signedImage.replaceSubrange(randomRange, with: repeatElement(0, count: 32))

        guard !body.isAtEnd else { return hello }
        var extensions = try body.readVector16("extensions length")
        guard body.isAtEnd else { throw .malformed("bytes after the extensions", at: body.offset) }
        var seen = Set<UInt16>()
        while !extensions.isAtEnd {
            let typeOffset = extensions.offset
            let type = try extensions.readUInt16("extension type")
            var data = try extensions.readVector16("extension length")
            guard seen.insert(type).inserted else { throw .malformed("duplicate extension", at: typeOffset) }
            hello.extensionTypes.append(type)
            try hello.parseExtension(type, &data)
        }
        return hello
    }

    private mutating func parseExtension(_ type: UInt16, _ data: inout ByteCursor) throws(FakeTLSError) {
        switch type {
        case 0x0000:
            // An empty server_name extension is legal in a ServerHello only; a client must list names.
            var list = try data.readVector16("server_name list length")
            try data.expectEnd("server_name")
            while !list.isAtEnd {
                let nameType = try list.readUInt8("server_name type")
                let nameOffset = list.offset
                var name = try list.readVector16("server_name length")
                guard nameType == 0 else { continue }
                serverNames.append(try Self.hostName(name.read(name.remaining, "host_name"), at: nameOffset))
            }
        case 0x000a:
            var list = try data.readVector16("supported_groups length")
            try data.expectEnd("supported_groups")
            guard list.remaining % 2 == 0 else { throw .malformed("supported_groups length", at: list.offset - 2) }
            while !list.isAtEnd { supportedGroups.append(try list.readUInt16("supported group")) }
        case 0x0010:
            var list = try data.readVector16("ALPN list length")
            try data.expectEnd("ALPN")
            while !list.isAtEnd {
                let nameOffset = list.offset
                var name = try list.readVector8("ALPN protocol length")
                guard name.remaining > 0 else { throw .malformed("ALPN protocol length", at: nameOffset) }
                applicationProtocols.append(String(decoding: try name.read(name.remaining, "ALPN protocol"), as: UTF8.self))
            }
        case 0x002b:
            var list = try data.readVector8("supported_versions length")
            try data.expectEnd("supported_versions")
            guard list.remaining % 2 == 0 else { throw .malformed("supported_versions length", at: list.offset - 1) }
            while !list.isAtEnd { supportedVersions.append(try list.readUInt16("supported version")) }
        case 0x0033:
            var list = try data.readVector16("key_share length")
            try data.expectEnd("key_share")
            while !list.isAtEnd {
                keyShareGroups.append(try list.readUInt16("key_share group"))
                let keyOffset = list.offset
                let key = try list.readVector16("key_exchange length")
                guard key.remaining > 0 else { throw .malformed("key_exchange length", at: keyOffset) }
            }
        default:
            break
        }
    }

    /// RFC 6066 host names are ASCII (A-labels for IDNs); anything else is not a browser's hello.
    private static func hostName(_ bytes: ArraySlice<UInt8>, at offset: Int) throws(FakeTLSError) -> String {
        guard !bytes.isEmpty, bytes.count <= 255, bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else {
            throw .malformed("host_name", at: offset)
        }
        return String(decoding: bytes.map { $0 >= 0x41 && $0 <= 0x5a ? $0 | 0x20 : $0 }, as: UTF8.self)
    }
}

extension ClientHello: CustomStringConvertible {
    public var description: String {
        "ClientHello(\(signedImage.count) bytes, \(recordCount) records, \(cipherSuites.count) suites, \(extensionTypes.count) extensions)"
    }
}

/// Reads big-endian TLS fields from a byte array; every read is bounds-checked and a
/// failure names the field and the absolute offset.
struct ByteCursor {
    private let bytes: [UInt8]
    private(set) var offset: Int
    private let end: Int

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.offset = 0
        self.end = bytes.count
    }

    private init(_ bytes: [UInt8], offset: Int, end: Int) {
        self.bytes = bytes
        self.offset = offset
        self.end = end
    }

    var remaining: Int { end - offset }
    var isAtEnd: Bool { offset == end }

    mutating func read(_ count: Int, _ field: String) throws(FakeTLSError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= remaining else { throw .malformed(field, at: offset) }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    mutating func readUInt8(_ field: String) throws(FakeTLSError) -> UInt8 {
        try read(1, field).first!
    }

    mutating func readUInt16(_ field: String) throws(FakeTLSError) -> UInt16 {
        let b = try read(2, field)
        return UInt16(b[b.startIndex]) << 8 | UInt16(b[b.startIndex + 1])
    }

    mutating func readUInt24(_ field: String) throws(FakeTLSError) -> Int {
        let b = try read(3, field)
        return Int(b[b.startIndex]) << 16 | Int(b[b.startIndex + 1]) << 8 | Int(b[b.startIndex + 2])
    }

    /// A sub-cursor over `count` bytes; this cursor moves past them.
    mutating func sub(_ count: Int, _ field: String, lengthOffset: Int) throws(FakeTLSError) -> ByteCursor {
        guard count <= remaining else { throw .malformed(field, at: lengthOffset) }
        defer { offset += count }
        return ByteCursor(bytes, offset: offset, end: offset + count)
    }

    mutating func readVector8(_ field: String) throws(FakeTLSError) -> ByteCursor {
        let at = offset
        return try sub(Int(readUInt8(field)), field, lengthOffset: at)
    }

    mutating func readVector16(_ field: String) throws(FakeTLSError) -> ByteCursor {
        let at = offset
        return try sub(Int(readUInt16(field)), field, lengthOffset: at)
    }

    mutating func readVector24(_ field: String) throws(FakeTLSError) -> ByteCursor {
        let at = offset
        return try sub(readUInt24(field), field, lengthOffset: at)
    }

    func expectEnd(_ field: String) throws(FakeTLSError) {
        guard isAtEnd else { throw .malformed("\(field) extension length", at: offset) }
    }
}
