#if canImport(Glibc)
import Glibc
#endif
import MTCrypto

/// `mtforensics extract`: writes the archive's files under one directory, never outside
/// it, never over an existing file, and each only once its bytes match the manifest
/// (written under a temporary name, renamed when checked, removed when not).
public enum ArchiveExtractor {
    public struct Report: Sendable {
        public var extracted: [String] = []
        public var findings: [VerificationReport.Finding] = []

        public var exitStatus: Int32 { findings.reduce(0) { $0 | $1.layer.exitBit } }

        mutating func add(_ layer: VerificationReport.Layer, _ path: String?, _ message: String) {
            findings.append(.init(layer: layer, path: path, message: message))
        }
    }

    /// - Parameter only: archive paths to extract; nil for all.
    public static func extract(archivePath: String, into destination: String,
                               only: Set<String>? = nil) throws(ForensicsError) -> Report {
        if mkdir(destination, 0o700) != 0 && errno != EEXIST { throw .lastIO(destination, "mkdir") }
        let root = open(destination, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard root >= 0 else { throw .lastIO(destination, "open") }
        defer { close(root) }

        var report = Report()
        let reader: EvidenceArchiveReader
        do {
            reader = try EvidenceArchiveReader(path: archivePath)
        } catch let error as ForensicsError {
            throw error
        } catch {
            throw .codec("\(error)")
        }
        var manifest: EvidenceManifest?
        var wanted = only
        do {
            var first = true
            while let entry = try reader.tar.next() {
                defer { first = false }
                if first {
                    guard entry.path == EvidenceManifest.fileName, entry.type == .regular else {
                        throw ForensicsError.malformedManifest(reason: "manifest.json is not the first entry, so files cannot be checked as they are extracted")
                    }
                    var bytes: [UInt8] = []
                    try reader.readContent { chunk in
                        guard bytes.count + chunk.count <= EvidenceManifest.maximumSize else {
                            throw ForensicsError.malformedManifest(reason: "larger than \(EvidenceManifest.maximumSize) bytes")
                        }
                        bytes += chunk
                    }
                    manifest = try EvidenceManifest.decode(bytes)
                    if wanted?.remove(EvidenceManifest.fileName) != nil || only == nil {
                        try write(bytes: bytes, path: entry.path, root: root)
                        report.extracted.append(entry.path)
                    }
                    continue
                }
                guard entry.type == .regular else {
                    if entry.type != .directory { report.add(.file, entry.path, "not a regular file; not extracted") }
                    continue
                }
                if let only, !only.contains(entry.path) { continue }
                wanted?.remove(entry.path)
                guard let expected = manifest?.entry(for: entry.path) else {
                    report.add(.file, entry.path, "not listed in the manifest; not extracted")
                    continue
                }
                if try extractChecked(entry: entry, expected: expected, reader: reader, root: root, report: &report) {
                    report.extracted.append(entry.path)
                }
            }
        } catch let error as ForensicsError {
            switch error {
            case .damagedArchive(_, _, let entry): report.add(.container, entry, error.description)
            case .malformedManifest: report.add(.manifest, nil, error.description)
            default: throw error
            }
        } catch {
            throw .codec("\(error)")
        }
        for path in (wanted ?? []).sorted() {
            report.add(.file, path, "not found in the archive")
        }
        return report
    }

    /// Extracts one entry under a temporary name; keeps it only if it matches the manifest.
    private static func extractChecked(entry: TarEntry, expected: EvidenceManifest.Entry, reader: EvidenceArchiveReader,
                                       root: Int32, report: inout Report) throws -> Bool {
        let components = try ArchivePath.components(of: entry.path)
        let directory = try openParent(components, root: root)
        defer { close(directory) }
        let name = String(components.last!)
        let temporary = ".\(name.prefix(200)).partial-\(SecureRandom.bytes(6).hexString)"
        let descriptor = openat(directory, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw ForensicsError.lastIO(entry.path, "create") }
        var keep = false
        defer {
            close(descriptor)
            if !keep { unlinkat(directory, temporary, 0) }
        }
        let hashing = HashingSink(next: nil)
        try reader.readContent { bytes in
            try hashing.write(bytes)
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw ForensicsError.lastIO(entry.path, "write")
                }
                offset += written
            }
        }
        let digest = hashing.digest().hexString
        guard hashing.count == expected.size, digest == expected.sha256 else {
            report.add(.file, entry.path, "does not match the manifest; not extracted")
            return false
        }
        var info = stat()
        guard fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) != 0 else {
            report.add(.file, entry.path, "already exists in the destination; not overwritten")
            return false
        }
        guard renameat(directory, temporary, directory, name) == 0 else { throw ForensicsError.lastIO(entry.path, "rename") }
        keep = true
        return true
    }

    private static func write(bytes: [UInt8], path: String, root: Int32) throws {
        let components = try ArchivePath.components(of: path)
        let directory = try openParent(components, root: root)
        defer { close(directory) }
        let descriptor = openat(directory, String(components.last!), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw ForensicsError.lastIO(path, "create") }
        defer { close(descriptor) }
        let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw ForensicsError.lastIO(path, "write") }
    }

    /// Opens (creating as needed) every directory on the way, refusing symlinks at each step.
    private static func openParent(_ components: [Substring], root: Int32) throws -> Int32 {
        var current = dup(root)
        guard current >= 0 else { throw ForensicsError.lastIO(".", "dup") }
        for component in components.dropLast() {
            let name = String(component)
            if mkdirat(current, name, 0o700) != 0 && errno != EEXIST {
                let error = ForensicsError.lastIO(name, "mkdir")
                close(current)
                throw error
            }
            let next = openat(current, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            close(current)
            guard next >= 0 else { throw ForensicsError.lastIO(name, "open directory") }
            current = next
        }
        return current
    }
}

/// `mtforensics list`: the archive's entries as they stream past, with what the manifest says.
public enum ArchiveLister {
    public struct Entry: Sendable, Equatable {
        public var path: String
        public var size: UInt64
        public var modificationTime: Int64
        /// From the manifest, when the entry is listed there.
        public var sha256: String?
    }

    public struct Listing: Sendable {
        public var format: ArchiveFormat
        public var entries: [Entry] = []
        /// Why the listing stopped early, if it did.
        public var damage: String?
    }

    public static func list(archivePath: String) throws(ForensicsError) -> Listing {
        let reader: EvidenceArchiveReader
        do {
            reader = try EvidenceArchiveReader(path: archivePath)
        } catch let error as ForensicsError {
            throw error
        } catch {
            throw .codec("\(error)")
        }
        var listing = Listing(format: reader.format)
        var manifest: EvidenceManifest?
        do {
            while let entry = try reader.tar.next() {
                if entry.path == EvidenceManifest.fileName, entry.type == .regular, entry.size <= UInt64(EvidenceManifest.maximumSize) {
                    var bytes: [UInt8] = []
                    try reader.readContent { bytes += $0 }
                    manifest = try? EvidenceManifest.decode(bytes)
                }
                listing.entries.append(Entry(path: entry.path, size: entry.size, modificationTime: entry.modificationTime,
                                             sha256: manifest?.entry(for: entry.path)?.sha256))
            }
        } catch {
            listing.damage = "\(error)"
        }
        return listing
    }
}
