/// The POSIX ustar header (POSIX.1-2001 `pax` interchange format), 512 bytes, and the
/// pax extended header records that carry what ustar cannot: long or non-ASCII paths
/// and sizes of 8 GiB or more.
enum TarFormat {
    static let blockSize = 512
    /// The largest size the 12-byte octal field holds (11 digits).
    static let maximumOctalSize: UInt64 = 0o77777777777
    /// A pax header larger than this is refused by the reader.
    static let maximumPaxHeaderSize: UInt64 = 1 << 20

    enum EntryType: Equatable, Sendable {
        case regular
        case directory
        case paxExtended
        case paxGlobal
        case other(UInt8)

        init(flag: UInt8) {
            switch flag {
            case UInt8(ascii: "0"), 0: self = .regular
            case UInt8(ascii: "5"): self = .directory
            case UInt8(ascii: "x"): self = .paxExtended
            case UInt8(ascii: "g"): self = .paxGlobal
            default: self = .other(flag)
            }
        }

        var flag: UInt8 {
            switch self {
            case .regular: UInt8(ascii: "0")
            case .directory: UInt8(ascii: "5")
            case .paxExtended: UInt8(ascii: "x")
            case .paxGlobal: UInt8(ascii: "g")
            case .other(let flag): flag
            }
        }
    }

    static func paddedSize(_ size: UInt64) -> UInt64 {
        (size + UInt64(blockSize) - 1) / UInt64(blockSize) * UInt64(blockSize)
    }

    // MARK: Writing

    /// The header blocks of one entry: a pax header (and its records) when needed, then
    /// the ustar header. The content follows, padded to 512 bytes.
    static func headerBlocks(path: String, size: UInt64, mode: UInt32, modificationTime: Int64,
                             type: EntryType = .regular) -> [UInt8] {
        var paxRecords: [(String, String)] = []
        let split = ustarSplit(path)
        if split == nil { paxRecords.append(("path", path)) }
        if size > maximumOctalSize { paxRecords.append(("size", String(size))) }

        var out: [UInt8] = []
        if !paxRecords.isEmpty {
            let records = paxRecords.flatMap { paxRecord(key: $0.0, value: $0.1) }
            let paxName = "PaxHeaders/" + String(asciiFallback(lastComponent(path)).prefix(80))
            out += ustarBlock(name: paxName, prefix: "", size: UInt64(records.count), mode: 0o600,
                              modificationTime: modificationTime, type: .paxExtended)
            out += records
            out += [UInt8](repeating: 0, count: Int(paddedSize(UInt64(records.count))) - records.count)
        }
        let (prefix, name) = split ?? ("", String(asciiFallback(lastComponent(path)).prefix(100)))
        out += ustarBlock(name: name, prefix: prefix, size: size > maximumOctalSize ? 0 : size,
                          mode: mode, modificationTime: modificationTime, type: type)
        return out
    }

    /// Bytes one regular file occupies in the archive: headers plus padded content.
    static func entrySize(path: String, size: UInt64) -> UInt64 {
        UInt64(headerBlocks(path: path, size: size, mode: 0, modificationTime: 0).count) + paddedSize(size)
    }

    /// `(prefix, name)` when the path fits the ustar fields as plain ASCII; nil otherwise.
    static func ustarSplit(_ path: String) -> (String, String)? {
        let bytes = Array(path.utf8)
        guard !bytes.isEmpty, bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) else { return nil }
        if bytes.count <= 100 { return ("", path) }
        // Split at a slash so that the prefix takes at most 155 bytes and the name at most 100.
        for index in stride(from: min(bytes.count - 1, 155), through: 1, by: -1) where bytes[index] == UInt8(ascii: "/") {
            let prefix = bytes[..<index]
            let name = bytes[(index + 1)...]
            if prefix.count <= 155, name.count <= 100, !name.isEmpty {
                return (String(decoding: prefix, as: UTF8.self), String(decoding: name, as: UTF8.self))
            }
        }
        return nil
    }

    /// One pax record, `"%d %s=%s\n"`, whose decimal length counts itself.
    static func paxRecord(key: String, value: String) -> [UInt8] {
        let body = " \(key)=\(value)\n"
        let bodyLength = body.utf8.count
        var length = bodyLength + 1
        while String(length).utf8.count + bodyLength != length { length += 1 }
        return Array((String(length) + body).utf8)
    }

    private static func lastComponent(_ path: String) -> Substring {
        path.split(separator: "/").last ?? Substring(path)
    }

    private static func asciiFallback(_ text: Substring) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7f ? $0 : "_" }))
    }

    private static func ustarBlock(name: String, prefix: String, size: UInt64, mode: UInt32,
                                   modificationTime: Int64, type: EntryType) -> [UInt8] {
        var block = [UInt8](repeating: 0, count: blockSize)
        func put(_ text: some Sequence<UInt8>, at offset: Int, width: Int) {
            for (index, byte) in text.enumerated() where index < width { block[offset + index] = byte }
        }
        func octal(_ value: UInt64, at offset: Int, width: Int) {
            // width - 1 digits, zero-padded, then NUL.
            var digits = Array(String(value, radix: 8).utf8)
            digits = [UInt8](repeating: UInt8(ascii: "0"), count: max(0, width - 1 - digits.count)) + digits
            put(digits, at: offset, width: width - 1)
        }
        put(name.utf8, at: 0, width: 100)
        octal(UInt64(mode), at: 100, width: 8)
        octal(0, at: 108, width: 8)
        octal(0, at: 116, width: 8)
        octal(size, at: 124, width: 12)
        octal(UInt64(max(0, modificationTime)), at: 136, width: 12)
        put([UInt8](repeating: UInt8(ascii: " "), count: 8), at: 148, width: 8)
        block[156] = type.flag
        put("ustar".utf8, at: 257, width: 6)
        put("00".utf8, at: 263, width: 2)
        put("root".utf8, at: 265, width: 32)
        put("root".utf8, at: 297, width: 32)
        octal(0, at: 329, width: 8)
        octal(0, at: 337, width: 8)
        put(prefix.utf8, at: 345, width: 155)
        let sum = block.reduce(0) { $0 + Int($1) }
        var checksum = Array(String(sum, radix: 8).utf8)
        checksum = [UInt8](repeating: UInt8(ascii: "0"), count: max(0, 6 - checksum.count)) + checksum
        put(checksum + [0, UInt8(ascii: " ")], at: 148, width: 8)
        return block
    }

    // MARK: Reading

    /// A decoded ustar header, before pax records are applied.
    struct Header: Equatable {
        var name: String
        var size: UInt64
        var mode: UInt32
        var modificationTime: Int64
        var type: EntryType
    }

    enum HeaderProblem: Error, Equatable {
        case checksum
        case magic
        case field(String)
        case encoding
    }

    static func isZeroBlock(_ block: UnsafeRawBufferPointer) -> Bool {
        block.allSatisfy { $0 == 0 }
    }

    /// Decodes one 512-byte header, checking its checksum and every numeric field.
    static func decodeHeader(_ block: [UInt8]) throws(HeaderProblem) -> Header {
        precondition(block.count == blockSize)
        let stored = try octalField(block, 148, 8, "chksum")
        var unsigned = 0
        var signed = 0
        for index in 0..<blockSize {
            let byte = (148..<156).contains(index) ? UInt8(ascii: " ") : block[index]
            unsigned += Int(byte)
            signed += Int(Int8(bitPattern: byte))
        }
        guard stored == UInt64(unsigned) || Int(stored) == signed else { throw .checksum }

        let magic = Array(block[257..<265])
        let posix = Array("ustar".utf8) + [0] + Array("00".utf8)
        let gnu = Array("ustar  ".utf8) + [0]
        guard magic == posix || magic == gnu else { throw .magic }

        let size = try octalField(block, 124, 12, "size")
        let mode = try octalField(block, 100, 8, "mode")
        guard mode <= 0o7777 else { throw .field("mode") }
        let mtime = try octalField(block, 136, 12, "mtime")
        let name = try textField(block, 0, 100)
        let prefix = magic == posix ? try textField(block, 345, 155) : ""
        return Header(name: prefix.isEmpty ? name : prefix + "/" + name,
                      size: size, mode: UInt32(mode), modificationTime: Int64(mtime),
                      type: EntryType(flag: block[156]))
    }

    /// An octal number: optional leading spaces, digits 0-7, then NUL or spaces to the end.
    /// Base-256 (GNU binary) numbers are refused: no writer of ours produces them.
    private static func octalField(_ block: [UInt8], _ offset: Int, _ width: Int,
                                   _ name: String) throws(HeaderProblem) -> UInt64 {
        var index = offset
        let end = offset + width
        while index < end, block[index] == UInt8(ascii: " ") { index += 1 }
        var value: UInt64 = 0
        var digits = 0
        while index < end, (UInt8(ascii: "0")...UInt8(ascii: "7")).contains(block[index]) {
            guard digits < 21 else { throw .field(name) }
            value = value << 3 | UInt64(block[index] - UInt8(ascii: "0"))
            digits += 1
            index += 1
        }
        guard digits > 0 else { throw .field(name) }
        while index < end {
            guard block[index] == 0 || block[index] == UInt8(ascii: " ") else { throw .field(name) }
            index += 1
        }
        return value
    }

    private static func textField(_ block: [UInt8], _ offset: Int, _ width: Int) throws(HeaderProblem) -> String {
        let field = block[offset..<(offset + width)]
        let bytes = field.prefix { $0 != 0 }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .encoding }
        return text
    }

    /// Parses pax records strictly: every record's length must match and end in a newline.
    static func parsePaxRecords(_ bytes: [UInt8]) -> [String: String]? {
        var records: [String: String] = [:]
        var index = 0
        while index < bytes.count {
            var length = 0
            var cursor = index
            while cursor < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[cursor]) {
                length = length * 10 + Int(bytes[cursor] - UInt8(ascii: "0"))
                guard length <= bytes.count else { return nil }
                cursor += 1
            }
            guard cursor > index, cursor < bytes.count, bytes[cursor] == UInt8(ascii: " "),
                  length > cursor - index + 1, index + length <= bytes.count,
                  bytes[index + length - 1] == UInt8(ascii: "\n") else { return nil }
            let body = bytes[(cursor + 1)..<(index + length - 1)]
            guard let equals = body.firstIndex(of: UInt8(ascii: "=")), equals > body.startIndex,
                  let key = String(validating: body[..<equals], as: UTF8.self),
                  let value = String(validating: body[(equals + 1)...], as: UTF8.self) else { return nil }
            records[key] = value
            index += length
        }
        return records
    }
}
