import Testing
@testable import Forensics

@Suite struct CodecTests {
    static func compress(_ content: [UInt8], format: ArchiveFormat, chunk: Int = 10_000) throws -> [UInt8] {
        let sink = MemorySink()
        switch format {
        case .lz4:
            let writer = try LZ4FrameWriter(contentSize: UInt64(content.count), output: sink)
            var index = 0
            while index < content.count {
                let end = min(index + chunk, content.count)
                try writer.write(Array(content[index..<end]))
                if index % (chunk * 7) == 0 { try writer.flush() }
                index = end
            }
            try writer.finish()
        case .gzip:
            let writer = try GzipWriter(output: sink)
            try writer.write(content)
            try writer.finish()
        }
        return sink.bytes
    }

    static func decompress(_ bytes: [UInt8], format: ArchiveFormat, checking: Bool = true) throws -> [UInt8] {
        let source: ByteSource = format == .lz4
            ? try LZ4FrameReader(input: MemorySource(bytes), checkingChecksums: checking)
            : try GzipReader(input: MemorySource(bytes))
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 7000)
        while true {
            let count = try buffer.withUnsafeMutableBytes { try source.read(into: $0) }
            if count == 0 { return out }
            out += buffer[..<count]
        }
    }

    static func sample(_ size: Int, seed: UInt64) -> [UInt8] {
        var generator = SeededGenerator(seed: seed)
        // Half text-like, half random: both compressible and incompressible blocks.
        let text = Array(String(repeating: "{\"event.action\":\"handshake.failed\"}\n", count: size / 72 + 1).utf8.prefix(size / 2))
        return text + [UInt8].random(size - text.count, using: &generator)
    }

    @Test(arguments: [ArchiveFormat.lz4, .gzip], [0, 1, 100_000, 9_000_000])
    func roundTrips(format: ArchiveFormat, size: Int) throws {
        let content = Self.sample(size, seed: UInt64(size))
        let compressed = try Self.compress(content, format: format)
        #expect(try Self.decompress(compressed, format: format) == content)
    }

    @Test func frameHeaderDeclaresEvidenceSettings() throws {
        let compressed = try Self.compress(Self.sample(5_000_000, seed: 1), format: .lz4)
        let descriptor = try #require(LZ4Frame.Descriptor(header: Array(compressed.prefix(19))))
        #expect(descriptor.blockIndependent)
        #expect(descriptor.blockChecksum)
        #expect(descriptor.contentChecksum)
        #expect(descriptor.contentSize == 5_000_000)
        #expect(descriptor.blockMaximumSize == 4 << 20)
    }

    @Test func theLZ4ToolAcceptsOurFrames() throws {
        let directory = try TemporaryDirectory()
        let content = Self.sample(6_000_000, seed: 2)
        try directory.write("data.lz4", try Self.compress(content, format: .lz4))
        #expect(try run(["lz4", "-t", directory.file("data.lz4")]).status == 0)
        let decoded = try run(["lz4", "-dc", directory.file("data.lz4")])
        #expect(decoded.status == 0)
        #expect(decoded.output == content)
        let listing = try run(["lz4", "-v", "--list", directory.file("data.lz4")])
        let described = listing.text + listing.error
        #expect(described.contains("B7I"), "\(described)")
        #expect(described.contains("XXH32"), "\(described)")
    }

    @Test func theGzipToolAcceptsOurStreams() throws {
        let directory = try TemporaryDirectory()
        let content = Self.sample(300_000, seed: 3)
        try directory.write("data.gz", try Self.compress(content, format: .gzip))
        #expect(try run(["gzip", "-t", directory.file("data.gz")]).status == 0)
        #expect(try run(["gzip", "-dc", directory.file("data.gz")]).output == content)
    }

    @Test func wrongContentLengthIsRefusedByTheWriter() throws {
        let writer = try LZ4FrameWriter(contentSize: 10, output: MemorySink())
        try writer.write([1, 2, 3])
        #expect(throws: ForensicsError.self) { try writer.finish() }
    }

    @Test(arguments: [ArchiveFormat.lz4, .gzip])
    func truncationIsDetected(format: ArchiveFormat) throws {
        let compressed = try Self.compress(Self.sample(200_000, seed: 4), format: format)
        for cut in [1, 5, compressed.count / 2, compressed.count - 4, compressed.count - 1] {
            #expect(throws: ForensicsError.self, "cut at \(cut)") {
                _ = try Self.decompress(Array(compressed.prefix(cut)), format: format)
            }
        }
    }

    @Test(arguments: [ArchiveFormat.lz4, .gzip])
    func flippedBytesAreDetected(format: ArchiveFormat) throws {
        let compressed = try Self.compress(Self.sample(200_000, seed: 5), format: format)
        var generator = SeededGenerator(seed: 6)
        for _ in 0..<40 {
            var damaged = compressed
            let index = Int.random(in: (format == .gzip ? 10 : 0)..<damaged.count, using: &generator)
            damaged[index] ^= UInt8(1 << Int.random(in: 0..<8, using: &generator))
            #expect(throws: ForensicsError.self, "byte \(index)") { _ = try Self.decompress(damaged, format: format) }
        }
    }

    @Test(arguments: [ArchiveFormat.lz4, .gzip])
    func trailingBytesAreRefused(format: ArchiveFormat) throws {
        let compressed = try Self.compress([1, 2, 3], format: format)
        #expect(throws: ForensicsError.self) { _ = try Self.decompress(compressed + [0], format: format) }
        #expect(throws: ForensicsError.self) { _ = try Self.decompress(compressed + compressed, format: format) }
    }

    /// Mutated and random inputs: decoding ends with data or an error, never a crash or a hang.
    @Test(arguments: [ArchiveFormat.lz4, .gzip])
    func survivesMutatedStreams(format: ArchiveFormat) throws {
        let compressed = try Self.compress(Self.sample(20_000, seed: 7), format: format)
        var generator = SeededGenerator(seed: 8)
        for _ in 0..<300 {
            var bytes = compressed
            for _ in 0..<Int.random(in: 1...6, using: &generator) {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            _ = try? Self.decompress(bytes, format: format)
            _ = try? Self.decompress(bytes, format: format, checking: false)
        }
        for _ in 0..<200 {
            let prefix = format == .lz4 ? LZ4Frame.magic : Gzip.magic
            _ = try? Self.decompress(prefix + [UInt8].random(Int.random(in: 0...500, using: &generator), using: &generator), format: format)
        }
    }

    @Test func descriptorParserRejectsNonsense() {
        #expect(LZ4Frame.Descriptor(header: []) == nil)
        #expect(LZ4Frame.Descriptor(header: LZ4Frame.magic + [0x00, 0x70, 0]) == nil)  // version bits 00
        #expect(LZ4Frame.Descriptor(header: LZ4Frame.magic + [0x64, 0x10, 0]) == nil)  // block size id 1
        #expect(LZ4Frame.Descriptor(header: LZ4Frame.magic + [0x6c, 0x70, 0]) == nil)  // content size flag, too short
    }
}
