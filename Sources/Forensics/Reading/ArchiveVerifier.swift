#if canImport(Glibc)
import Glibc
#endif
import MTCrypto

/// What `verify` found. The exit status is a bit mask, as fsck's is, so that a script
/// can tell which layer failed: 2 the sidecar hash, 4 the container (frame or gzip
/// checksums, truncation, tar structure), 8 the manifest or custody record, 16 files
/// that differ from the manifest, are missing from the archive or are not listed in it.
public struct VerificationReport: Sendable {
    public enum Layer: String, Sendable {
        case sidecar, container, manifest, file

        public var exitBit: Int32 {
            switch self {
            case .sidecar: 2
            case .container: 4
            case .manifest: 8
            case .file: 16
            }
        }
    }

    public struct Finding: Sendable, Equatable, CustomStringConvertible {
        public var layer: Layer
        /// The file inside the archive the finding is about, when there is one.
        public var path: String?
        public var message: String

        public var description: String {
            "\(layer.rawValue): " + (path.map { "\($0): " } ?? "") + message
        }
    }

    public var archivePath: String
    public var format: ArchiveFormat?
    public var archiveSHA256: String?
    public var findings: [Finding] = []
    /// Manifest entries whose size and hash were checked and matched.
    public var filesVerified: [String] = []
    public var manifest: EvidenceManifest?
    public var custody: CustodyRecord?

    public var isVerified: Bool { findings.isEmpty }

    public var exitStatus: Int32 {
        findings.reduce(0) { $0 | $1.layer.exitBit }
    }

    /// Files named by a finding.
    public var namedFiles: Set<String> { Set(findings.compactMap(\.path)) }

    mutating func add(_ layer: Layer, _ path: String?, _ message: String) {
        findings.append(Finding(layer: layer, path: path, message: message))
    }
}

/// `mtforensics verify`: the sidecar hash, the container's checksums, the tar
/// structure, the manifest, and every file against the manifest. When a checksum fails
/// in an LZ4 archive, the archive is read again with checksums off to find which files
/// the damage touched.
public enum ArchiveVerifier {
    public static func verify(archivePath: String) throws(ForensicsError) -> VerificationReport {
        var report = VerificationReport(archivePath: archivePath)
        let sidecar = readSidecar(archivePath: archivePath, report: &report)
        let reader: EvidenceArchiveReader
        do {
            reader = try EvidenceArchiveReader(path: archivePath)
        } catch let error as ForensicsError {
            if case .io = error { throw error }
            report.add(.container, nil, error.description)
            return report
        } catch {
            throw .codec("\(error)")
        }
        report.format = reader.format
        let pass = readEntries(reader)
        if let damage = pass.damage { report.add(.container, damage.entry, damage.message) }
        if let descriptor = reader.frameDescriptor {
            if !descriptor.contentChecksum { report.add(.container, nil, "the LZ4 frame carries no content checksum") }
            if descriptor.contentSize == nil { report.add(.container, nil, "the LZ4 frame does not declare its content size") }
            if !descriptor.blockIndependent { report.add(.container, nil, "the LZ4 frame's blocks are not independent") }
        }

        let rawHash = try? reader.finishRawHash()
        report.archiveSHA256 = rawHash
        if let sidecar, let rawHash, sidecar != rawHash {
            report.add(.sidecar, nil, "the archive's SHA-256 is \(rawHash), the sidecar says \(sidecar)")
        }

        report.manifest = pass.manifest
        report.custody = pass.custody
        for problem in pass.recordProblems { report.add(.manifest, nil, problem) }
        guard let manifest = pass.manifest else {
            if pass.damage == nil { report.add(.manifest, EvidenceManifest.fileName, "missing from the archive") }
            return report
        }
        if pass.custody == nil, pass.damage == nil, manifest.entry(for: CustodyRecord.fileName) == nil {
            report.add(.manifest, CustodyRecord.fileName, "missing from the archive")
        }

        // After damage, read again without checksums: the files whose bytes changed show up
        // as hash mismatches, the others are known intact despite the failed check.
        var salvage: EntryPass?
        if pass.damage != nil, reader.format == .lz4 {
            salvage = (try? EvidenceArchiveReader(path: archivePath, checkingChecksums: false)).map(readEntries)
        }
        compare(manifest: manifest, pass: pass, salvage: salvage, report: &report)
        return report
    }

    private static func compare(manifest: EvidenceManifest, pass: EntryPass, salvage: EntryPass?,
                                report: inout VerificationReport) {
        var blamed = false
        for entry in manifest.files {
            if let found = pass.entries[entry.path] {
                if found.size == entry.size && found.sha256 == entry.sha256 {
                    report.filesVerified.append(entry.path)
                } else {
                    report.add(.file, entry.path, found.size == entry.size
                        ? "content does not match the manifest (sha256 \(found.sha256), manifest \(entry.sha256))"
                        : "size \(found.size) does not match the manifest's \(entry.size)")
                }
                continue
            }
            guard pass.damage != nil else {
                report.add(.file, entry.path, "listed in the manifest but missing from the archive")
                continue
            }
            if let salvaged = salvage?.entries[entry.path] {
                if salvaged.size == entry.size && salvaged.sha256 == entry.sha256 {
                    report.add(.file, entry.path, "inside a damaged part of the archive; its bytes, read past the failed check, still match")
                } else {
                    report.add(.file, entry.path, "damaged: its bytes, read past the failed check, do not match the manifest")
                }
            } else if !blamed {
                // Blocks end at file boundaries, so the first file that could not be read,
                // in archive order, is the one the damage or the truncation is in.
                blamed = true
                report.add(.file, entry.path, "damaged: the archive fails its check or ends within this file")
            } else {
                report.add(.file, entry.path, "not checked: it comes after the damaged part of the archive")
            }
        }
        for path in pass.unlisted {
            report.add(.file, path, "in the archive but not listed in the manifest")
        }
        for path in pass.duplicates {
            report.add(.file, path, "appears more than once in the archive")
        }
        for (path, type) in pass.otherTypes {
            report.add(.file, path, "an entry of type \(type), not a regular file")
        }
    }

    struct EntryPass {
        var entries: [String: (size: UInt64, sha256: String)] = [:]
        var order: [String] = []
        var unlisted: [String] = []
        var duplicates: [String] = []
        var otherTypes: [(String, String)] = []
        var manifest: EvidenceManifest?
        var custody: CustodyRecord?
        var recordProblems: [String] = []
        var damage: (entry: String?, message: String)?
    }

    static func readEntries(_ reader: EvidenceArchiveReader) -> EntryPass {
        var pass = EntryPass()
        var manifestBytes: [UInt8]?
        var custodyBytes: [UInt8]?
        do {
            while let entry = try reader.tar.next() {
                guard entry.type == .regular else {
                    if entry.type != .directory { pass.otherTypes.append((entry.path, "\(entry.type)")) }
                    continue
                }
                let keep = entry.path == EvidenceManifest.fileName || entry.path == CustodyRecord.fileName
                var kept: [UInt8] = []
                var tooLarge = false
                let hashing = HashingSink(next: nil)
                try reader.readContent { bytes in
                    try hashing.write(bytes)
                    if keep && !tooLarge {
                        if kept.count + bytes.count > EvidenceManifest.maximumSize { tooLarge = true } else { kept += bytes }
                    }
                }
                let digest = hashing.digest().hexString
                if pass.entries[entry.path] != nil { pass.duplicates.append(entry.path); continue }
                pass.order.append(entry.path)
                if entry.path == EvidenceManifest.fileName {
                    manifestBytes = tooLarge ? [] : kept
                    if tooLarge { pass.recordProblems.append("manifest.json is larger than \(EvidenceManifest.maximumSize) bytes") }
                    continue
                }
                pass.entries[entry.path] = (entry.size, digest)
                if entry.path == CustodyRecord.fileName { custodyBytes = tooLarge ? nil : kept }
            }
        } catch let error as ForensicsError {
            if case .damagedArchive(_, _, let entry) = error {
                pass.damage = (entry, error.description)
            } else {
                pass.damage = (nil, error.description)
            }
        } catch {
            pass.damage = (nil, "\(error)")
        }
        if let manifestBytes, !manifestBytes.isEmpty {
            do throws(ForensicsError) {
                pass.manifest = try EvidenceManifest.decode(manifestBytes)
            } catch {
                pass.recordProblems.append(error.description)
            }
        }
        if let custodyBytes {
            do throws(ForensicsError) {
                pass.custody = try CustodyRecord.decode(custodyBytes)
            } catch {
                pass.recordProblems.append(error.description)
            }
        }
        if let manifest = pass.manifest {
            let listed = Set(manifest.files.map(\.path))
            pass.unlisted = pass.order.filter { $0 != EvidenceManifest.fileName && !listed.contains($0) }
        }
        return pass
    }

    /// The hash the `.sha256` beside the archive names, or a finding saying why there is none.
    static func readSidecar(archivePath: String, report: inout VerificationReport) -> String? {
        let sidecarPath = archivePath + ".sha256"
        guard let input = try? FileInput(path: sidecarPath) else {
            report.add(.sidecar, nil, "\(sidecarPath) cannot be read")
            return nil
        }
        var bytes = [UInt8](repeating: 0, count: 4096)
        let count = (try? bytes.withUnsafeMutableBytes { try input.readFully(into: $0) }) ?? 0
        let text = String(decoding: bytes[..<count], as: UTF8.self)
        let name = String(archivePath.split(separator: "/").last ?? Substring(archivePath))
        let lines = text.split(separator: "\n")
        guard lines.count == 1, count < bytes.count else {
            report.add(.sidecar, nil, "\(sidecarPath) is not one sha256sum line")
            return nil
        }
        let line = lines[0]
        let hash = line.prefix(64)
        let rest = line.dropFirst(64)
        guard hash.utf8.count == 64, hash.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }),
              rest.hasPrefix("  ") || rest.hasPrefix(" *") else {
            report.add(.sidecar, nil, "\(sidecarPath) is not in sha256sum format")
            return nil
        }
        if rest.dropFirst(2) != name {
            report.add(.sidecar, nil, "\(sidecarPath) names \(rest.dropFirst(2)), not \(name)")
        }
        return String(hash)
    }
}
