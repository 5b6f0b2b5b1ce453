#if canImport(Glibc)
import Glibc
#endif
import MTCrypto

/// Where a layer of the archive writes its bytes: the tar writer into a compressor,
/// a compressor into the output file.
protocol ByteSink: AnyObject {
    func write(_ bytes: UnsafeRawBufferPointer) throws
}

extension ByteSink {
    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }
}

/// Where a layer of the archive reads its bytes from; `read` returns 0 only at the end.
protocol ByteSource: AnyObject {
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

extension ByteSource {
    /// Fills `buffer` completely unless the source ends first; returns the count read.
    func readFully(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var filled = 0
        while filled < buffer.count {
            let count = try read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            if count == 0 { break }
            filled += count
        }
        return filled
    }
}

/// Counts and hashes every byte that passes through on its way to `next`.
final class HashingSink: ByteSink {
    private let next: ByteSink?
    private var hasher = SHA256()
    private(set) var count: UInt64 = 0

    init(next: ByteSink?) {
        self.next = next
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        hasher.update(bytes)
        count += UInt64(bytes.count)
        try next?.write(bytes)
    }

    /// The SHA-256 of everything written; the sink must not be written to afterwards.
    func digest() -> [UInt8] {
        var finished = SHA256()
        swap(&finished, &hasher)
        return finished.finalize()
    }
}

/// A file opened for writing by descriptor, created exclusively with mode 0600.
final class FileOutput: ByteSink {
    let path: String
    private var descriptor: Int32

    /// Creates `path`, which must not exist; `O_NOFOLLOW` refuses a planted symlink.
    init(creating path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw ForensicsError.lastIO(path, "create") }
        guard fchmod(fd, 0o600) == 0 else {
            let error = ForensicsError.lastIO(path, "chmod")
            close(fd)
            throw error
        }
        self.path = path
        self.descriptor = fd
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                throw ForensicsError.lastIO(path, "write")
            }
            offset += written
        }
    }

    /// Closes the file without forcing it to disk (scratch files).
    func closeUnsynced() throws {
        guard descriptor >= 0 else { return }
        defer { descriptor = -1 }
        guard Glibc.close(descriptor) == 0 else { throw ForensicsError.lastIO(path, "close") }
    }

    /// Flushes the data to stable storage and closes the file.
    func syncAndClose() throws {
        guard descriptor >= 0 else { return }
        defer { descriptor = -1 }
        guard fsync(descriptor) == 0 else {
            let error = ForensicsError.lastIO(path, "fsync")
            close(descriptor)
            throw error
        }
        guard close(descriptor) == 0 else { throw ForensicsError.lastIO(path, "close") }
    }
}

/// A file opened for reading by descriptor.
final class FileInput: ByteSource {
    let path: String
    private let descriptor: Int32

    init(path: String, followSymlinks: Bool = true) throws {
        let flags = O_RDONLY | O_CLOEXEC | (followSymlinks ? 0 : O_NOFOLLOW)
        let fd = open(path, flags)
        guard fd >= 0 else { throw ForensicsError.lastIO(path, "open") }
        self.path = path
        self.descriptor = fd
    }

    deinit { close(descriptor) }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard buffer.count > 0 else { return 0 }
        while true {
            let count = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
            if count >= 0 { return count }
            if errno != EINTR { throw ForensicsError.lastIO(path, "read") }
        }
    }

    /// `fstat` of the open file: its size, type, identity and modification time.
    func status() throws -> stat {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw ForensicsError.lastIO(path, "stat") }
        return info
    }
}

/// Bytes held in memory, read as a source (manifest and custody records, tests).
final class MemorySource: ByteSource {
    private let bytes: [UInt8]
    private var position = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = min(buffer.count, bytes.count - position)
        guard count > 0 else { return 0 }
        bytes.withUnsafeBytes { source in
            buffer.baseAddress!.copyMemory(from: source.baseAddress! + position, byteCount: count)
        }
        position += count
        return count
    }
}

/// Collects written bytes in memory (tests, small records).
final class MemorySink: ByteSink {
    private(set) var bytes: [UInt8] = []

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        self.bytes.append(contentsOf: bytes)
    }
}
