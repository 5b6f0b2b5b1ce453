/// One entry of a tar stream as the reader found it.
struct TarEntry: Equatable, Sendable {
    var path: String
    var size: UInt64
    var mode: UInt32
    var modificationTime: Int64
    var type: TarFormat.EntryType
    /// Offset of the entry's first header block in the uncompressed stream.
    var offset: UInt64
}

/// Reads a tar stream strictly and within bounds: every header's checksum and fields
/// are checked, pax records are parsed and limited in size, the archive must end with
/// two zero blocks followed by nothing but zeros, and a stream that stops early is an
/// error naming the entry it stopped in.
final class TarReader {
    private let source: ByteSource
    private(set) var offset: UInt64 = 0
    private var current: TarEntry?
    private var remaining: UInt64 = 0
    private var padding: UInt64 = 0
    private var ended = false

    init(source: ByteSource) {
        self.source = source
    }

    /// The entry being read, for error messages.
    var currentPath: String? { current?.path }

    /// The next file or directory entry (pax headers are applied, not returned); nil at
    /// the end of the archive. Whatever is left of the previous entry is skipped.
    func next() throws -> TarEntry? {
        guard !ended else { return nil }
        try skipRest()
        current = nil
        var pax: [String: String] = [:]
        var block = [UInt8](repeating: 0, count: TarFormat.blockSize)
        while true {
            let headerOffset = offset
            try readExactly(&block, what: "a header")
            let zero = block.withUnsafeBytes { TarFormat.isZeroBlock($0) }
            if zero {
                try readExactly(&block, what: "the second end-of-archive block")
                guard block.withUnsafeBytes({ TarFormat.isZeroBlock($0) }) else {
                    throw damaged("a lone zero block inside the archive", at: headerOffset)
                }
                try requireOnlyZerosAfterEnd()
                guard pax.isEmpty else { throw damaged("a pax header with no entry after it", at: headerOffset) }
                ended = true
                return nil
            }
            let header: TarFormat.Header
            do {
                header = try TarFormat.decodeHeader(block)
            } catch {
                let reason: String
                switch error {
                case .checksum: reason = "header checksum does not match"
                case .magic: reason = "not a ustar header"
                case .field(let name): reason = "header field \(name) is malformed"
                case .encoding: reason = "header name is not UTF-8"
                }
                throw damaged(reason, at: headerOffset)
            }
            switch header.type {
            case .paxExtended, .paxGlobal:
                guard header.size <= TarFormat.maximumPaxHeaderSize else {
                    throw damaged("a pax header of \(header.size) bytes is larger than allowed", at: headerOffset)
                }
                var records = [UInt8](repeating: 0, count: Int(header.size))
                try readExactly(&records, what: "pax records")
                try skip(TarFormat.paddedSize(header.size) - header.size)
                guard let parsed = TarFormat.parsePaxRecords(records) else {
                    throw damaged("malformed pax records", at: headerOffset)
                }
                if header.type == .paxExtended { pax.merge(parsed) { $1 } }
            default:
                var entry = TarEntry(path: header.name, size: header.size, mode: header.mode,
                                     modificationTime: header.modificationTime, type: header.type,
                                     offset: headerOffset)
                if let path = pax["path"] { entry.path = path }
                if let sizeText = pax["size"] {
                    guard let size = UInt64(sizeText) else { throw damaged("pax size is not a number", at: headerOffset) }
                    entry.size = size
                }
                if case .directory = entry.type, entry.size != 0 {
                    throw damaged("a directory entry with content", at: headerOffset)
                }
                current = entry
                remaining = entry.size
                padding = TarFormat.paddedSize(entry.size) - entry.size
                return entry
            }
        }
    }

    /// Reads content of the current entry; 0 when it is exhausted.
    func readContent(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard remaining > 0, buffer.count > 0 else { return 0 }
        let want = Int(min(UInt64(buffer.count), remaining))
        let count = try wrap { try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<want])) }
        guard count > 0 else {
            throw damaged("the archive ends \(remaining) bytes before the end of this file", at: offset)
        }
        remaining -= UInt64(count)
        offset += UInt64(count)
        return count
    }

    private func skipRest() throws {
        guard current != nil else { return }
        try skip(remaining + padding)
        remaining = 0
        padding = 0
    }

    private func skip(_ count: UInt64) throws {
        var left = count
        var scratch = [UInt8](repeating: 0, count: 64 * 1024)
        while left > 0 {
            let want = Int(min(left, UInt64(scratch.count)))
            let got = try scratch.withUnsafeMutableBytes { buffer in
                try wrap { try source.readFully(into: UnsafeMutableRawBufferPointer(rebasing: buffer[..<want])) }
            }
            offset += UInt64(got)
            guard got == want else { throw damaged("the archive ends inside this entry", at: offset) }
            left -= UInt64(got)
        }
    }

    private func readExactly(_ bytes: inout [UInt8], what: String) throws {
        let count = bytes.count
        let got = try bytes.withUnsafeMutableBytes { buffer in try wrap { try source.readFully(into: buffer) } }
        offset += UInt64(got)
        guard got == count else {
            throw damaged(got == 0 && what == "a header"
                ? "the archive ends without its two end-of-archive blocks"
                : "the archive ends inside \(what)", at: offset)
        }
    }

    private func requireOnlyZerosAfterEnd() throws {
        var scratch = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let got = try scratch.withUnsafeMutableBytes { buffer in try wrap { try source.read(into: buffer) } }
            if got == 0 { return }
            guard scratch[..<got].allSatisfy({ $0 == 0 }) else {
                throw damaged("data after the end-of-archive blocks", at: offset)
            }
            offset += UInt64(got)
        }
    }

    private func damaged(_ reason: String, at offset: UInt64) -> ForensicsError {
        .damagedArchive(reason: reason, offset: offset, entry: current?.path)
    }

    /// Errors from the decompressor below get the tar offset and entry they happened in.
    private func wrap<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch ForensicsError.damagedArchive(let reason, nil, nil) {
            throw damaged(reason, at: offset)
        }
    }
}
