import MTCrypto

/// Reads an evidence archive as a stream: the raw file (hashed as it is read, for the
/// sidecar), the container (LZ4 frame or gzip, recognised by its magic number), the tar.
final class EvidenceArchiveReader {
    let path: String
    let format: ArchiveFormat
    let tar: TarReader
    private let raw: HashingSource
    private let lz4: LZ4FrameReader?

    init(path: String, checkingChecksums: Bool = true) throws {
        let probe = try FileInput(path: path)
        var magic = [UInt8](repeating: 0, count: 4)
        let count = try magic.withUnsafeMutableBytes { try probe.readFully(into: $0) }
        guard let format = ArchiveFormat.detect(Array(magic[..<count])) else {
            throw ForensicsError.damagedArchive(reason: "neither an LZ4 frame nor a gzip stream", offset: nil, entry: nil)
        }
        self.path = path
        self.format = format
        self.raw = HashingSource(try FileInput(path: path))
        switch format {
        case .lz4:
            let frame = try LZ4FrameReader(input: raw, checkingChecksums: checkingChecksums)
            lz4 = frame
            tar = TarReader(source: frame)
        case .gzip:
            lz4 = nil
            tar = TarReader(source: try GzipReader(input: raw))
        }
    }

    /// The LZ4 frame's declared settings, once reading has begun.
    var frameDescriptor: LZ4Frame.Descriptor? { lz4?.descriptor }

    /// Reads the rest of the raw file (after damage stopped decoding) and returns its SHA-256.
    func finishRawHash() throws -> String {
        var scratch = [UInt8](repeating: 0, count: 256 * 1024)
        while try scratch.withUnsafeMutableBytes({ try raw.read(into: $0) }) > 0 {}
        return raw.digest()
    }

    /// Streams the current entry's content to `body`.
    func readContent(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            let count = try buffer.withUnsafeMutableBytes { try tar.readContent(into: $0) }
            if count == 0 { return }
            try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
        }
    }
}

/// Hashes the bytes read through it.
final class HashingSource: ByteSource {
    private let input: ByteSource
    private let hashing = HashingSink(next: nil)

    init(_ input: ByteSource) {
        self.input = input
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = try input.read(into: buffer)
        if count > 0 { try hashing.write(UnsafeRawBufferPointer(rebasing: buffer[..<count])) }
        return count
    }

    func digest() -> String {
        hashing.digest().hexString
    }
}
