/// Writes a POSIX tar stream of regular files: each file announced with its exact size,
/// its content streamed, padded to 512 bytes; two zero blocks close the archive.
final class TarWriter {
    private let sink: ByteSink
    private var current: (path: String, remaining: UInt64, size: UInt64)?
    private var finished = false
    private(set) var bytesWritten: UInt64 = 0

    /// Called after each file's padding: where a compressor may end a block.
    private let fileBoundary: (() throws -> Void)?

    init(sink: ByteSink, fileBoundary: (() throws -> Void)? = nil) {
        self.sink = sink
        self.fileBoundary = fileBoundary
    }

    /// The exact length of an archive holding these files, known before writing it.
    static func archiveSize(files: [(path: String, size: UInt64)]) -> UInt64 {
        files.reduce(UInt64(2 * TarFormat.blockSize)) { $0 + TarFormat.entrySize(path: $1.path, size: $1.size) }
    }

    func beginFile(path: String, size: UInt64, mode: UInt32 = 0o600, modificationTime: Int64) throws {
        precondition(current == nil && !finished, "TarWriter: previous file not ended")
        try emit(TarFormat.headerBlocks(path: path, size: size, mode: mode, modificationTime: modificationTime))
        current = (path, size, size)
    }

    func writeContent(_ bytes: UnsafeRawBufferPointer) throws {
        guard let file = current else { preconditionFailure("TarWriter: no file begun") }
        guard UInt64(bytes.count) <= file.remaining else {
            throw ForensicsError.codec("\(file.path): more content than the \(file.size) bytes announced")
        }
        current!.remaining -= UInt64(bytes.count)
        try emit(bytes)
    }

    func writeContent(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try writeContent($0) }
    }

    func endFile() throws {
        guard let file = current else { preconditionFailure("TarWriter: no file begun") }
        guard file.remaining == 0 else {
            throw ForensicsError.codec("\(file.path): \(file.remaining) of the \(file.size) bytes announced never came")
        }
        let padding = Int(TarFormat.paddedSize(file.size) - file.size)
        if padding > 0 { try emit([UInt8](repeating: 0, count: padding)) }
        current = nil
        try fileBoundary?()
    }

    /// Writes a whole file held in memory.
    func addFile(path: String, contents: [UInt8], modificationTime: Int64) throws {
        try beginFile(path: path, size: UInt64(contents.count), modificationTime: modificationTime)
        try writeContent(contents)
        try endFile()
    }

    func finish() throws {
        precondition(current == nil, "TarWriter: file not ended")
        guard !finished else { return }
        try emit([UInt8](repeating: 0, count: 2 * TarFormat.blockSize))
        finished = true
    }

    private func emit(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try emit($0) }
    }

    private func emit(_ bytes: UnsafeRawBufferPointer) throws {
        try sink.write(bytes)
        bytesWritten += UInt64(bytes.count)
    }
}
