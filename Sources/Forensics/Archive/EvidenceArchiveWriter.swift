#if canImport(Glibc)
import Glibc
#endif
import MTCrypto

/// The container of a snapshot.
public enum ArchiveFormat: String, Sendable, CaseIterable {
    /// tar in one LZ4 frame: independent 4 MiB blocks, block and content checksums, content size.
    case lz4
    /// tar in one gzip member.
    case gzip

    public var fileExtension: String {
        switch self {
        case .lz4: ".tar.lz4"
        case .gzip: ".tar.gz"
        }
    }

    /// Recognises a container by its first bytes.
    static func detect(_ prefix: [UInt8]) -> ArchiveFormat? {
        if prefix.starts(with: LZ4Frame.magic) { return .lz4 }
        if prefix.starts(with: Gzip.magic) { return .gzip }
        return nil
    }
}

/// Packs staged files into the final archive. The tar stream's length is computed from
/// the staged sizes before a byte is written, which is how the LZ4 frame can declare its
/// content size while the archive is still written in one streaming pass. The archive
/// is written under a hidden temporary name, synced, and renamed only when whole, after
/// its `.sha256` sidecar (hashed as the bytes went out) is in place.
struct EvidenceArchiveWriter {
    struct Member {
        var path: String
        /// In memory (manifest, custody) or a staged file.
        var contents: [UInt8]?
        var stagingPath: String?
        var size: UInt64
        var sha256: String?
    }

    struct Written {
        var archivePath: String
        var sidecarPath: String
        var sha256: String
        var bytes: UInt64
    }

    var format: ArchiveFormat
    var modificationTime: Int64
    var progress: ((UInt64, UInt64) -> Void)?

    func write(members: [Member], to finalPath: String) throws -> Written {
        let directory = finalPath.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let name = String(finalPath.split(separator: "/").last ?? Substring(finalPath))
        let directoryPath = directory.isEmpty ? "." : directory
        let temporary = "\(directoryPath)/.\(name).partial-\(SecureRandom.bytes(6).hexString)"
        let sidecarTemporary = "\(directoryPath)/.\(name).sha256.partial-\(SecureRandom.bytes(6).hexString)"
        let sidecarPath = finalPath + ".sha256"
        var info = stat()
        guard lstat(finalPath, &info) != 0, lstat(sidecarPath, &info) != 0 else {
            throw ForensicsError.usage("\(finalPath) already exists; refusing to overwrite evidence")
        }

        InterruptCleanup.register(temporary, isDirectory: false)
        InterruptCleanup.register(sidecarTemporary, isDirectory: false)
        defer {
            InterruptCleanup.unregister(temporary)
            InterruptCleanup.unregister(sidecarTemporary)
        }
        let file = try FileOutput(creating: temporary)
        var complete = false
        defer { if !complete { unlink(temporary); unlink(sidecarTemporary) } }
        let archiveHash = HashingSink(next: file)
        let tarSize = TarWriter.archiveSize(files: members.map { ($0.path, $0.size) })
        let total = members.reduce(UInt64(0)) { $0 + $1.size }
        var done: UInt64 = 0

        let lz4: LZ4FrameWriter?
        let gzip: GzipWriter?
        let compressor: ByteSink
        switch format {
        case .lz4:
            lz4 = try LZ4FrameWriter(contentSize: tarSize, output: archiveHash)
            gzip = nil
            compressor = lz4!
        case .gzip:
            gzip = try GzipWriter(output: archiveHash)
            lz4 = nil
            compressor = gzip!
        }
        let tar = TarWriter(sink: compressor, fileBoundary: lz4.map { frame in { try frame.flush() } })
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        for member in members {
            if let contents = member.contents {
                try tar.addFile(path: member.path, contents: contents, modificationTime: modificationTime)
                done += member.size
                continue
            }
            guard let stagingPath = member.stagingPath else { continue }
            let input = try FileInput(path: stagingPath, followSymlinks: false)
            try tar.beginFile(path: member.path, size: member.size, modificationTime: modificationTime)
            // The staged bytes are hashed again on their way into the tar, in the same
            // read, so that the manifest can only describe what the archive really holds.
            let hasher = HashingSink(next: nil)
            var copied: UInt64 = 0
            while true {
                let count = try buffer.withUnsafeMutableBytes { try input.read(into: $0) }
                if count == 0 { break }
                guard copied + UInt64(count) <= member.size else {
                    throw ForensicsError.codec("\(member.path): the staged file grew while it was packed")
                }
                try buffer.withUnsafeBytes { bytes in
                    let part = UnsafeRawBufferPointer(rebasing: bytes[..<count])
                    try hasher.write(part)
                    try tar.writeContent(part)
                }
                copied += UInt64(count)
                done += UInt64(count)
                progress?(done, total)
            }
            guard copied == member.size, member.sha256 == nil || hasher.digest().hexString == member.sha256 else {
                throw ForensicsError.codec("\(member.path): the staged file changed while it was packed")
            }
            try tar.endFile()
        }
        try tar.finish()
        guard tar.bytesWritten == tarSize else {
            throw ForensicsError.codec("tar stream is \(tar.bytesWritten) bytes, \(tarSize) were announced")
        }
        try lz4?.finish()
        try gzip?.finish()
        try file.syncAndClose()
        let digest = archiveHash.digest().hexString

        let sidecar = try FileOutput(creating: sidecarTemporary)
        try sidecar.write(Array("\(digest)  \(name)\n".utf8))
        try sidecar.syncAndClose()
        guard rename(sidecarTemporary, sidecarPath) == 0 else { throw ForensicsError.lastIO(sidecarPath, "rename") }
        guard rename(temporary, finalPath) == 0 else {
            let error = ForensicsError.lastIO(finalPath, "rename")
            unlink(sidecarPath)
            throw error
        }
        complete = true
        let directoryDescriptor = open(directoryPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
        return Written(archivePath: finalPath, sidecarPath: sidecarPath, sha256: digest, bytes: archiveHash.count)
    }
}
