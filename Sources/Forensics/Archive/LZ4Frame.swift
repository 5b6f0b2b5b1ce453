import CMTLZ4

/// The LZ4 frame format (lz4_Frame_format.md) through liblz4's LZ4F API, with the
/// settings evidence needs instead of the library's defaults: independent 4 MiB blocks
/// (damage stays in one block), a checksum on every block and on the whole content, and
/// the content size in the header so that a reader knows when the frame is complete.
enum LZ4Frame {
    static let magic: [UInt8] = [0x04, 0x22, 0x4d, 0x18]
    static let blockSize = 4 * 1024 * 1024

    static func errorText(_ code: Int) -> String {
        String(cString: LZ4F_getErrorName(code))
    }

    static func isError(_ code: Int) -> Bool {
        LZ4F_isError(code) != 0
    }

    /// What the frame header declares, parsed by us so that `verify` can insist on the
    /// checksums rather than trust whatever flags a frame carries.
    struct Descriptor: Equatable, Sendable {
        var blockIndependent: Bool
        var blockChecksum: Bool
        var contentChecksum: Bool
        var contentSize: UInt64?
        var blockMaximumSize: Int

        /// Parses the magic number, FLG and BD bytes and the optional content size.
        init?(header bytes: [UInt8]) {
            guard bytes.count >= 7, Array(bytes[0..<4]) == LZ4Frame.magic else { return nil }
            let flags = bytes[4]
            let bd = bytes[5]
            guard flags >> 6 == 0b01, flags & 0b10 == 0, bd & 0x8f == 0 else { return nil }
            let sizeID = Int(bd >> 4)
            guard (4...7).contains(sizeID) else { return nil }
            blockIndependent = flags & 0x20 != 0
            blockChecksum = flags & 0x10 != 0
            contentChecksum = flags & 0x04 != 0
            blockMaximumSize = 1 << (8 + 2 * sizeID)
            if flags & 0x08 != 0 {
                guard bytes.count >= 14 else { return nil }
                contentSize = bytes[6..<14].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            } else {
                contentSize = nil
            }
        }
    }
}

/// Compresses everything written to it into one LZ4 frame whose content size is
/// declared up front; `finish` fails if the content written differs from it.
final class LZ4FrameWriter: ByteSink {
    private let output: ByteSink
    private let context: OpaquePointer
    private var preferences: LZ4F_preferences_t
    private let contentSize: UInt64
    private var written: UInt64 = 0
    private var buffer: [UInt8]
    private static let chunk = 256 * 1024

    init(contentSize: UInt64, output: ByteSink) throws {
        var context: OpaquePointer?
        let created = LZ4F_createCompressionContext(&context, UInt32(LZ4F_VERSION))
        guard !LZ4Frame.isError(created), let context else {
            throw ForensicsError.codec("lz4: cannot create a compression context: \(LZ4Frame.errorText(created))")
        }
        var preferences = LZ4F_preferences_t()
        preferences.frameInfo.blockSizeID = LZ4F_max4MB
        preferences.frameInfo.blockMode = LZ4F_blockIndependent
        preferences.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled
        preferences.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled
        preferences.frameInfo.frameType = LZ4F_frame
        preferences.frameInfo.contentSize = contentSize
        preferences.compressionLevel = 0
        self.output = output
        self.context = context
        self.preferences = preferences
        self.contentSize = contentSize
        self.buffer = [UInt8](repeating: 0, count: max(LZ4F_compressBound(Self.chunk, &self.preferences),
                                                          Int(LZ4F_HEADER_SIZE_MAX)))
        let headerLength = buffer.withUnsafeMutableBytes {
            LZ4F_compressBegin(context, $0.baseAddress, $0.count, &self.preferences)
        }
        guard !LZ4Frame.isError(headerLength) else {
            LZ4F_freeCompressionContext(context)
            throw ForensicsError.codec("lz4: cannot begin the frame: \(LZ4Frame.errorText(headerLength))")
        }
        try output.write(Array(buffer[..<headerLength]))
    }

    deinit { LZ4F_freeCompressionContext(context) }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let length = min(Self.chunk, bytes.count - offset)
            let produced = buffer.withUnsafeMutableBytes { destination in
                LZ4F_compressUpdate(context, destination.baseAddress, destination.count,
                                    bytes.baseAddress! + offset, length, nil)
            }
            guard !LZ4Frame.isError(produced) else {
                throw ForensicsError.codec("lz4: compression failed: \(LZ4Frame.errorText(produced))")
            }
            if produced > 0 { try buffer.withUnsafeBytes { try output.write(UnsafeRawBufferPointer(rebasing: $0[..<produced])) } }
            offset += length
        }
        written += UInt64(bytes.count)
    }

    /// Ends the current block early. Called at every file boundary, so that a damaged
    /// block damages one file and the manifest, first, sits in a block of its own.
    func flush() throws {
        let produced = buffer.withUnsafeMutableBytes { LZ4F_flush(context, $0.baseAddress, $0.count, nil) }
        guard !LZ4Frame.isError(produced) else {
            throw ForensicsError.codec("lz4: cannot flush a block: \(LZ4Frame.errorText(produced))")
        }
        if produced > 0 { try buffer.withUnsafeBytes { try output.write(UnsafeRawBufferPointer(rebasing: $0[..<produced])) } }
    }

    /// Writes the last block, the end mark and the content checksum.
    func finish() throws {
        guard written == contentSize else {
            throw ForensicsError.codec("lz4: \(written) bytes written into a frame declared as \(contentSize)")
        }
        let produced = buffer.withUnsafeMutableBytes {
            LZ4F_compressEnd(context, $0.baseAddress, $0.count, nil)
        }
        guard !LZ4Frame.isError(produced) else {
            throw ForensicsError.codec("lz4: cannot end the frame: \(LZ4Frame.errorText(produced))")
        }
        try buffer.withUnsafeBytes { try output.write(UnsafeRawBufferPointer(rebasing: $0[..<produced])) }
    }
}

/// Decompresses one LZ4 frame, letting liblz4 check the header, every block checksum,
/// the content checksum and the declared content size. Refuses a second frame or any
/// trailing bytes, and a frame that ends early.
final class LZ4FrameReader: ByteSource {
    private let input: ByteSource
    private let context: OpaquePointer
    private var compressed = [UInt8](repeating: 0, count: 64 * 1024)
    private var start = 0
    private var end = 0
    private var frameEnded = false
    private var inputEnded = false
    /// The descriptor of the frame, once its header has been read.
    private(set) var descriptor: LZ4Frame.Descriptor?
    private(set) var compressedOffset: UInt64 = 0
    private var options = LZ4F_decompressOptions_t()

    /// - Parameter checkingChecksums: false only to read past damage and find which files
    ///   it touched, after a checked read has failed.
    init(input: ByteSource, checkingChecksums: Bool = true) throws {
        var context: OpaquePointer?
        let created = LZ4F_createDecompressionContext(&context, UInt32(LZ4F_VERSION))
        guard !LZ4Frame.isError(created), let context else {
            throw ForensicsError.codec("lz4: cannot create a decompression context: \(LZ4Frame.errorText(created))")
        }
        self.input = input
        self.context = context
        self.options.skipChecksums = checkingChecksums ? 0 : 1
    }

    deinit { LZ4F_freeDecompressionContext(context) }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        if descriptor == nil { try readDescriptor() }
        while !frameEnded {
            if start == end, !inputEnded { try refill() }
            if start == end, inputEnded {
                throw ForensicsError.damagedArchive(reason: "the LZ4 frame is truncated (compressed offset \(compressedOffset))",
                                                    offset: nil, entry: nil)
            }
            var sourceLength = end - start
            var destinationLength = buffer.count
            let hint = compressed.withUnsafeBytes { source in
                LZ4F_decompress(context, buffer.baseAddress, &destinationLength,
                                source.baseAddress! + start, &sourceLength, &options)
            }
            if LZ4Frame.isError(hint) {
                throw ForensicsError.damagedArchive(
                    reason: "LZ4 frame check failed near compressed offset \(compressedOffset): \(LZ4Frame.errorText(hint))",
                    offset: nil, entry: nil)
            }
            start += sourceLength
            compressedOffset += UInt64(sourceLength)
            if hint == 0 {
                frameEnded = true
                try requireNothingAfterFrame()
            }
            if destinationLength > 0 { return destinationLength }
        }
        return 0
    }

    private func readDescriptor() throws {
        // Up to the longest header: magic, FLG, BD, content size, dictionary id, HC.
        while end < 19, !inputEnded { try refill(keep: true) }
        guard let descriptor = LZ4Frame.Descriptor(header: Array(compressed[0..<end])) else {
            throw ForensicsError.damagedArchive(reason: "not an LZ4 frame header", offset: nil, entry: nil)
        }
        self.descriptor = descriptor
    }

    private func refill(keep: Bool = false) throws {
        if !keep { start = 0; end = 0 }
        let got = try compressed.withUnsafeMutableBytes {
            try input.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[end...]))
        }
        if got == 0 { inputEnded = true }
        end += got
    }

    private func requireNothingAfterFrame() throws {
        let trailing = try start < end || refillForTrailing()
        if trailing {
            throw ForensicsError.damagedArchive(reason: "bytes after the end of the LZ4 frame", offset: nil, entry: nil)
        }
    }

    private func refillForTrailing() throws -> Bool {
        guard !inputEnded else { return false }
        try refill()
        return end > 0
    }
}
