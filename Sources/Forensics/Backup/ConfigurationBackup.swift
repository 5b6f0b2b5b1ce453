#if canImport(Glibc)
import Glibc
#endif
import Foundation
import MTCrypto

/// `mtforensics backup` and `restore`: the proxy's configuration (its secrets are in it),
/// its blocklist, the auditor's configuration and state, and any file named with
/// `--include`, in the evidence archive format (tar in an LZ4 frame, `manifest.json`
/// first, `custody.json`, a `.sha256` sidecar), so `mtforensics verify` checks a backup
/// as it checks a snapshot.
///
/// Layout of the backup directory (what `mtforensics check` reads, keep it stable):
///
///     backups/mtshield-YYYYmmdd-HHMMSS.tar.lz4          mode 0600, UTC time of the backup
///     backups/mtshield-YYYYmmdd-HHMMSS.tar.lz4.sha256   sha256sum line of the archive
///     backups/latest -> mtshield-YYYYmmdd-HHMMSS.tar.lz4  symlink, relative, replaced atomically
///
/// A checker resolves `latest` first (`realpath`, `readlink -f`) and verifies that path:
/// the sidecar is named after the archive, so `verify backups/latest` would look for
/// `latest.sha256`. The backup's time is in its name and in `custody.json`.
///
/// Inside the archive, each file sits at `files/` + its absolute path, and `backup.json`
/// records where it goes back with its mode and owner. A SQLite database (the auditor's
/// state) is copied through SQLite's backup API, so the copy includes what its `-wal` file
/// holds; restoring one removes the stale `-wal`, `-shm` and `-journal` beside it. Stop the
/// auditor before restoring its state.
public enum ConfigurationBackup {
    public static let archivePrefix = "mtshield-"
    public static let latestName = "latest"
    public static let recordName = "backup.json"

    /// One file to back up, by absolute path, with the part it plays.
    public struct Source: Sendable, Equatable {
        public var role: String
        public var path: String
        /// A missing optional file (a blocklist not written yet) is recorded and skipped;
        /// a missing required one stops the backup.
        public var required: Bool

        public init(role: String, path: String, required: Bool) {
            self.role = role
            self.path = path
            self.required = required
        }
    }

    /// `backup.json`: where every file of the archive goes back.
    public struct Record: Codable, Sendable, Equatable {
        public struct File: Codable, Sendable, Equatable {
            public var role: String
            /// Absolute path on the machine the backup was taken on.
            public var path: String
            public var archivePath: String
            /// Permission bits, octal text (`0600`).
            public var mode: String
            public var uid: UInt32
            public var gid: UInt32

            enum CodingKeys: String, CodingKey {
                case role, path, mode, uid, gid
                case archivePath = "archive_path"
            }
        }

        public var format: String
        public var created: String
        public var files: [File]
    }

    public struct Created: Sendable {
        public var archivePath: String
        public var sidecarPath: String
        public var sha256: String
        public var bytes: UInt64
        public var files: [Record.File]
        /// Optional sources that did not exist.
        public var skipped: [Source]
    }

    public struct Restored: Sendable {
        public var archivePath: String
        /// Destination paths written, in archive order.
        public var files: [String]
    }

    /// The sources named by a proxy configuration (the file and its `blocklist`), an
    /// auditor configuration (the file and its `state`) and `--include` files.
    public static func sources(proxyConfig: String?, auditorConfig: String?,
                               includes: [String]) throws(ForensicsError) -> [Source] {
        var sources: [Source] = []
        if let proxyConfig {
            let configuration: EvidenceConfiguration
            do {
                configuration = try EvidenceConfiguration(role: .proxy, path: absolute(proxyConfig))
            } catch {
                throw .configuration(error)
            }
            sources.append(Source(role: "proxy-config", path: configuration.path, required: true))
            if let blocklist = configuration.resolvedPath(at: ["blocklist"]) {
                sources.append(Source(role: "blocklist", path: absolute(blocklist), required: false))
            }
        }
        if let auditorConfig {
            let configuration: EvidenceConfiguration
            do {
                configuration = try EvidenceConfiguration(role: .auditor, path: absolute(auditorConfig))
            } catch {
                throw .configuration(error)
            }
            sources.append(Source(role: "auditor-config", path: configuration.path, required: true))
            if let state = configuration.resolvedPath(at: ["state"]) {
                sources.append(Source(role: "auditor-state", path: absolute(state), required: false))
            }
        }
        for include in includes {
            sources.append(Source(role: "include", path: absolute(include), required: true))
        }
        var seen = Set<String>()
        return sources.filter { seen.insert($0.path).inserted }
    }

    /// `mtshield-YYYYmmdd-HHMMSS.tar.lz4` for a UTC time.
    public static func archiveName(milliseconds: Int64) -> String {
        let digits = RFC3339.format(milliseconds: milliseconds).filter(\.isNumber)
        return archivePrefix + digits.prefix(8) + "-" + digits.dropFirst(8).prefix(6) + ArchiveFormat.lz4.fileExtension
    }

    /// Writes a backup of `sources` into `directory` (created 0700 if missing) and points
    /// `latest` at it.
    public static func create(sources: [Source], into directory: String, nowMilliseconds now: Int64,
                              commandLine: [String] = []) throws(ForensicsError) -> Created {
        do {
            return try createUnchecked(sources: sources, into: directory, now: now, commandLine: commandLine)
        } catch let error as ForensicsError {
            throw error
        } catch {
            throw .codec("backup failed: \(error)")
        }
    }

    private static func createUnchecked(sources: [Source], into directory: String, now: Int64,
                                        commandLine: [String]) throws -> Created {
        guard !sources.isEmpty else { throw ForensicsError.usage("nothing to back up: give --proxy-config, --auditor-config or --include") }
        if mkdir(directory, 0o700) != 0 && errno != EEXIST { throw ForensicsError.lastIO(directory, "mkdir") }
        let staging = try EvidenceStaging(inside: directory, budget: ByteBudget(limit: UInt64.max / 2))
        defer { staging.remove() }

        var files: [Record.File] = []
        var staged: [EvidenceStaging.StagedFile] = []
        var outcomes: [ArtifactOutcome] = []
        var skipped: [Source] = []
        for source in sources {
            var info = stat()
            guard stat(source.path, &info) == 0 else {
                if source.required || errno != ENOENT { throw ForensicsError.lastIO(source.path, "stat") }
                skipped.append(source)
                outcomes.append(ArtifactOutcome(name: source.role, kind: "file", source: source.path, status: .missing))
                continue
            }
            guard info.st_mode & S_IFMT == S_IFREG else {
                throw ForensicsError.usage("\(source.path) is not a regular file; back up files, not directories or devices")
            }
            let archivePath = "files" + source.path
            _ = try ArchivePath.components(of: archivePath)
            let writer = try staging.makeFile(for: archivePath)
            // A SQLite database (the auditor's state) is read through SQLite, WAL included.
            var readPath = source.path
            if DatabaseCopy.isDatabase(source.path) {
                readPath = "\(staging.directory)/database-\(files.count).sqlite"
                try DatabaseCopy.copy(from: source.path, to: readPath)
            }
            let input = try FileInput(path: readPath)
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while true {
                let count = try buffer.withUnsafeMutableBytes { try input.read(into: $0) }
                if count == 0 { break }
                try writer.write(Array(buffer[..<count]))
            }
            let file = try writer.finish()
            staged.append(file)
            files.append(Record.File(role: source.role, path: source.path, archivePath: archivePath,
                                     mode: String(info.st_mode & 0o7777, radix: 8).leftPadded(to: 4),
                                     uid: info.st_uid, gid: info.st_gid))
            outcomes.append(ArtifactOutcome(name: source.role, kind: "file", source: source.path, status: .collected,
                                            archivePath: archivePath, bytes: file.size))
        }

        let created = RFC3339.format(milliseconds: now)
        let record = Record(format: "mtshield-backup", created: created, files: files)
        let recordBytes = Array(EvidenceJSON.encode(record))
        let custody = CustodyRecord(
            incident: "backup", operator: ProcessInfo.processInfo.environment["SUDO_USER"] ?? ProcessInfo.processInfo.environment["USER"] ?? "unknown",
            host: HostFacts.hostName(),
            clock: HostFacts.clock(atMilliseconds: now),
            tool: .init(name: "mtforensics", version: ForensicsLibrary.version),
            commandLine: commandLine,
            window: .init(since: created, until: created),
            format: "tar+lz4", byteBudget: 0,
            redaction: .init(secrets: "kept: a backup restores the secrets", addresses: "kept", secretCount: 0),
            artifacts: outcomes)
        let custodyBytes = custody.encoded()
        let manifest = EvidenceManifest(files: [
            .init(path: CustodyRecord.fileName, size: UInt64(custodyBytes.count), sha256: SHA256.hash(custodyBytes).hexString),
            .init(path: recordName, size: UInt64(recordBytes.count), sha256: SHA256.hash(recordBytes).hexString),
        ] + staged.map { .init(path: $0.archivePath, size: $0.size, sha256: $0.sha256) })
        let manifestBytes = manifest.encoded()
        var members: [EvidenceArchiveWriter.Member] = [
            .init(path: EvidenceManifest.fileName, contents: manifestBytes, size: UInt64(manifestBytes.count)),
            .init(path: CustodyRecord.fileName, contents: custodyBytes, size: UInt64(custodyBytes.count)),
            .init(path: recordName, contents: recordBytes, size: UInt64(recordBytes.count)),
        ]
        members += staged.map { .init(path: $0.archivePath, stagingPath: $0.stagingPath, size: $0.size, sha256: $0.sha256) }

        let name = archiveName(milliseconds: now)
        let writer = EvidenceArchiveWriter(format: .lz4, modificationTime: now / 1000, progress: nil)
        let written = try writer.write(members: members, to: directory + "/" + name)
        try pointLatest(at: name, in: directory)
        return Created(archivePath: written.archivePath, sidecarPath: written.sidecarPath, sha256: written.sha256,
                       bytes: written.bytes, files: files, skipped: skipped)
    }

    /// Replaces `directory/latest` by a symlink to `name`, atomically.
    static func pointLatest(at name: String, in directory: String) throws {
        let temporary = "\(directory)/.\(latestName).\(SecureRandom.bytes(6).hexString)"
        guard symlink(name, temporary) == 0 else { throw ForensicsError.lastIO(temporary, "symlink") }
        guard rename(temporary, "\(directory)/\(latestName)") == 0 else {
            let error = ForensicsError.lastIO("\(directory)/\(latestName)", "rename")
            unlink(temporary)
            throw error
        }
    }

    /// The archive `name` names: a path, a file name in `directory`, or nil for `latest`.
    public static func resolve(_ name: String?, directory: String) throws(ForensicsError) -> String {
        let candidate: String
        if let name, name.contains("/") {
            candidate = name
        } else {
            candidate = directory + "/" + (name ?? latestName)
        }
        guard let resolved = realpath(candidate, nil) else {
            throw name == nil
                ? .usage("\(candidate): no backup yet (make backup writes one)")
                : .lastIO(candidate, "open")
        }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Verifies the archive, then puts every file back under `root` ("/" for where they
    /// came from). Nothing is written unless the archive verifies; every file is first
    /// written beside its destination under a temporary name, and only when all are in
    /// place are they renamed over the destinations.
    public static func restore(archivePath: String, root: String = "/") throws(ForensicsError) -> Restored {
        let report = try ArchiveVerifier.verify(archivePath: archivePath)
        guard report.isVerified else {
            let findings = report.findings.map(\.description).joined(separator: "; ")
            throw .damagedArchive(reason: "refusing to restore from an archive that does not verify: \(findings)", offset: nil, entry: nil)
        }
        do {
            return try restoreVerified(archivePath: archivePath, root: root)
        } catch let error as ForensicsError {
            throw error
        } catch {
            throw .codec("restore failed: \(error)")
        }
    }

    private static func restoreVerified(archivePath: String, root: String) throws -> Restored {
        let archiveDirectory = archivePath.contains("/") ? String(archivePath[..<archivePath.lastIndex(of: "/")!]) : "."
        let extraction = archiveDirectory + "/.mtforensics-restore-" + SecureRandom.bytes(8).hexString
        InterruptCleanup.register(extraction, isDirectory: true)
        defer {
            removeTree(extraction)
            InterruptCleanup.unregister(extraction)
        }
        let extracted = try ArchiveExtractor.extract(archivePath: archivePath, into: extraction)
        guard extracted.findings.isEmpty else {
            throw ForensicsError.damagedArchive(reason: extracted.findings.map(\.description).joined(separator: "; "),
                                                offset: nil, entry: nil)
        }
        let recordBytes = try readWhole(extraction + "/" + recordName)
        let record: Record
        do {
            record = try JSONDecoder().decode(Record.self, from: Data(recordBytes))
        } catch {
            throw ForensicsError.malformedManifest(reason: "\(recordName) is not a backup record (\(EvidenceJSON.describe(error)))")
        }
        guard record.format == "mtshield-backup" else {
            throw ForensicsError.malformedManifest(reason: "\(recordName): format is not mtshield-backup")
        }

        // Stage: every file beside its destination, with its mode and owner, synced.
        var staged: [(temporary: String, destination: String)] = []
        var committed = false
        defer {
            if !committed { for file in staged { unlink(file.temporary) } }
        }
        for file in record.files {
            guard file.path.hasPrefix("/"), ArchivePath.isSafe(String(file.path.dropFirst())),
                  file.archivePath == "files" + file.path, let mode = mode_t(file.mode, radix: 8) else {
                throw ForensicsError.malformedManifest(reason: "\(recordName): unsafe entry for \(String(reflecting: file.path))")
            }
            let destination = (root == "/" ? "" : root) + file.path
            let parent = String(destination[..<destination.lastIndex(of: "/")!])
            try makeDirectories(parent)
            let temporary = "\(parent)/.\(destination.split(separator: "/").last!).restore-\(SecureRandom.bytes(6).hexString)"
            let bytes = try readWhole(extraction + "/" + file.archivePath)
            let output = try FileOutput(creating: temporary)
            staged.append((temporary, destination))
            try output.write(bytes)
            try output.syncAndClose()
            if geteuid() == 0 { _ = chown(temporary, file.uid, file.gid) }
            guard chmod(temporary, mode & 0o7777) == 0 else { throw ForensicsError.lastIO(temporary, "chmod") }
        }
        // Commit: renames within one directory each, nothing left to fail but the rename.
        var restored: [String] = []
        for file in staged {
            // A database's old WAL and journal would be replayed over the restored file.
            if DatabaseCopy.isDatabase(file.temporary) {
                for suffix in DatabaseCopy.companionSuffixes { unlink(file.destination + suffix) }
            }
            guard rename(file.temporary, file.destination) == 0 else {
                let error = ForensicsError.lastIO(file.destination, "rename")
                throw ForensicsError.codec("\(error); restored before it: \(restored.joined(separator: ", "))")
            }
            restored.append(file.destination)
        }
        committed = true
        return Restored(archivePath: archivePath, files: restored)
    }

    // MARK: Files

    private static func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        return FileManager.default.currentDirectoryPath + "/" + (path.hasPrefix("./") ? String(path.dropFirst(2)) : path)
    }

    private static func readWhole(_ path: String) throws -> [UInt8] {
        let input = try FileInput(path: path, followSymlinks: false)
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = try buffer.withUnsafeMutableBytes { try input.read(into: $0) }
            if count == 0 { return bytes }
            bytes += buffer[..<count]
        }
    }

    private static func makeDirectories(_ path: String) throws {
        var current = ""
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdir(current, 0o700) != 0 && errno != EEXIST { throw ForensicsError.lastIO(current, "mkdir") }
        }
    }

    private static func removeTree(_ path: String) {
        guard let handle = opendir(path) else {
            unlink(path)
            return
        }
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name != "." && name != ".." else { continue }
            let child = path + "/" + name
            var info = stat()
            if lstat(child, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR {
                removeTree(child)
            } else {
                unlink(child)
            }
        }
        closedir(handle)
        rmdir(path)
    }
}

private extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
