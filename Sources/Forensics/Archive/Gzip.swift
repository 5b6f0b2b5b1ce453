import CMTZlib

/// gzip (RFC 1952) through zlib's deflate and inflate with the gzip wrapper; the reader
/// lets zlib check the trailer's CRC-32 and length and refuses anything after the member.
enum Gzip {
    static let magic: [UInt8] = [0x1f, 0x8b]
    /// windowBits 15 plus 16: write and read the gzip wrapper rather than zlib's.
    static let windowBits: Int32 = 15 + 16

    static func message(_ stream: UnsafeMutablePointer<z_stream>, _ code: Int32) -> String {
        if let text = stream.pointee.msg { return String(cString: text) }
        return "zlib error \(code)"
    }
}

final class GzipWriter: ByteSink {
    private let output: ByteSink
    // zlib keeps a pointer back to the stream and checks it: the struct must not move.
    private let stream: UnsafeMutablePointer<z_stream>
    private var buffer = [UInt8](repeating: 0, count: 256 * 1024)

    init(output: ByteSink, level: Int32 = 6) throws {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = deflateInit2_(stream, level, Z_DEFLATED, Gzip.windowBits, 8, Z_DEFAULT_STRATEGY,
                                   ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            stream.deallocate()
            throw ForensicsError.codec("gzip: cannot start deflate (\(status))")
        }
        self.output = output
    }

    deinit {
        deflateEnd(stream)
        stream.deallocate()
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        var offset = 0
        while offset < bytes.count {
            let length = min(bytes.count - offset, Int(UInt32.max / 2))
            stream.pointee.next_in = UnsafeMutablePointer(mutating: bytes.baseAddress!.assumingMemoryBound(to: Bytef.self) + offset)
            stream.pointee.avail_in = uInt(length)
            try pump(flush: Z_NO_FLUSH)
            offset += length
        }
    }

    func finish() throws {
        stream.pointee.next_in = nil
        stream.pointee.avail_in = 0
        try pump(flush: Z_FINISH)
    }

    private func pump(flush: Int32) throws {
        repeat {
            let (status, produced) = buffer.withUnsafeMutableBytes { out -> (Int32, Int) in
                stream.pointee.next_out = out.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = uInt(out.count)
                let status = deflate(stream, flush)
                return (status, out.count - Int(stream.pointee.avail_out))
            }
            guard status == Z_OK || status == Z_STREAM_END || status == Z_BUF_ERROR else {
                throw ForensicsError.codec("gzip: deflate failed: \(Gzip.message(stream, status))")
            }
            if produced > 0 { try buffer.withUnsafeBytes { try output.write(UnsafeRawBufferPointer(rebasing: $0[..<produced])) } }
            if flush == Z_FINISH {
                if status == Z_STREAM_END { return }
            } else if stream.pointee.avail_in == 0 && stream.pointee.avail_out != 0 {
                return
            }
        } while true
    }
}

final class GzipReader: ByteSource {
    private let input: ByteSource
    private let stream: UnsafeMutablePointer<z_stream>
    // zlib holds on to next_in between calls, so the input buffer has a fixed address.
    private let compressed = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 * 1024, alignment: 1)
    private var inputEnded = false
    private var streamEnded = false
    private(set) var compressedOffset: UInt64 = 0

    init(input: ByteSource) throws {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        let status = inflateInit2_(stream, Gzip.windowBits, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else {
            stream.deallocate()
            throw ForensicsError.codec("gzip: cannot start inflate (\(status))")
        }
        self.input = input
    }

    deinit {
        inflateEnd(stream)
        stream.deallocate()
        compressed.deallocate()
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        while !streamEnded {
            if stream.pointee.avail_in == 0, !inputEnded { try refill() }
            let availableBefore = Int(stream.pointee.avail_in)
            stream.pointee.next_out = buffer.baseAddress!.assumingMemoryBound(to: Bytef.self)
            stream.pointee.avail_out = uInt(buffer.count)
            let status = inflate(stream, Z_NO_FLUSH)
            compressedOffset += UInt64(availableBefore - Int(stream.pointee.avail_in))
            let produced = buffer.count - Int(stream.pointee.avail_out)
            switch status {
            case Z_STREAM_END:
                streamEnded = true
                let trailing = try stream.pointee.avail_in > 0 || moreInput()
                if trailing {
                    throw ForensicsError.damagedArchive(reason: "bytes after the end of the gzip stream", offset: nil, entry: nil)
                }
            case Z_OK:
                break
            case Z_BUF_ERROR where inputEnded && stream.pointee.avail_in == 0:
                throw ForensicsError.damagedArchive(reason: "the gzip stream is truncated (compressed offset \(compressedOffset))",
                                                    offset: nil, entry: nil)
            case Z_BUF_ERROR:
                break
            default:
                throw ForensicsError.damagedArchive(
                    reason: "gzip check failed near compressed offset \(compressedOffset): \(Gzip.message(stream, status))",
                    offset: nil, entry: nil)
            }
            if produced > 0 { return produced }
            if inputEnded, stream.pointee.avail_in == 0, !streamEnded {
                throw ForensicsError.damagedArchive(reason: "the gzip stream is truncated (compressed offset \(compressedOffset))",
                                                    offset: nil, entry: nil)
            }
        }
        return 0
    }

    private func refill() throws {
        let got = try input.read(into: compressed)
        if got == 0 { inputEnded = true }
        stream.pointee.next_in = compressed.baseAddress!.assumingMemoryBound(to: Bytef.self)
        stream.pointee.avail_in = uInt(got)
    }

    private func moreInput() throws -> Bool {
        guard !inputEnded else { return false }
        try refill()
        return stream.pointee.avail_in > 0
    }
}
