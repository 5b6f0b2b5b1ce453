#if canImport(Glibc)
import Glibc
#endif
import ConfigFile
import MTCrypto

/// What to snapshot and how: everything `mtforensics snapshot` was told.
public struct SnapshotRequest: Sendable {
    public var proxyConfigurationPath: String?
    public var auditorConfigurationPath: String?
    /// The time window, milliseconds since the epoch.
    public var sinceMilliseconds: Int64
    public var untilMilliseconds: Int64
    public var outputDirectory: String
    public var incident: String
    public var operatorName: String
    public var host: String
    /// Replace client addresses by keyed pseudonyms (secrets are always fingerprinted).
    public var redactAddresses: Bool
    public var format: ArchiveFormat
    public var catalog: ArtifactCatalog
    /// Bytes of artifact content the snapshot may take, all artifacts together.
    public var byteBudget: UInt64
    /// Timeout of a command without its own.
    public var commandTimeout: Duration
    public var commandLine: [String]

    public init(proxyConfigurationPath: String?, auditorConfigurationPath: String?, sinceMilliseconds: Int64,
                untilMilliseconds: Int64, outputDirectory: String, incident: String, operatorName: String,
                host: String, redactAddresses: Bool = false, format: ArchiveFormat = .lz4,
                catalog: ArtifactCatalog = .shipped(), byteBudget: UInt64 = 1 << 30,
                commandTimeout: Duration = .seconds(10), commandLine: [String] = []) {
        self.proxyConfigurationPath = proxyConfigurationPath
        self.auditorConfigurationPath = auditorConfigurationPath
        self.sinceMilliseconds = sinceMilliseconds
        self.untilMilliseconds = untilMilliseconds
        self.outputDirectory = outputDirectory
        self.incident = incident
        self.operatorName = operatorName
        self.host = host
        self.redactAddresses = redactAddresses
        self.format = format
        self.catalog = catalog
        self.byteBudget = byteBudget
        self.commandTimeout = commandTimeout
        self.commandLine = commandLine
    }
}

public struct SnapshotResult: Sendable {
    public var archivePath: String
    public var sidecarPath: String
    public var sha256: String
    public var archiveBytes: UInt64
    public var custody: CustodyRecord
    public var manifest: EvidenceManifest
}

/// How far a snapshot has come, for a progress line.
public enum SnapshotProgress: Sendable {
    case collecting(artifact: String, index: Int, total: Int, bytes: UInt64)
    case packing(bytes: UInt64, total: UInt64)
}

/// Takes a snapshot: collects every artifact of the list into a private staging
/// directory (redacting and hashing as it streams), writes the custody record and the
/// manifest, and packs it all into one archive with its `.sha256` sidecar.
public struct EvidenceSnapshot {
    public static let archivePrefix = "mtshield-evidence-"

    public var request: SnapshotRequest
    public var clock: CustodyRecord.Clock
    public var progress: (@Sendable (SnapshotProgress) -> Void)?

    public init(request: SnapshotRequest, clock: CustodyRecord.Clock,
                progress: (@Sendable (SnapshotProgress) -> Void)? = nil) {
        self.request = request
        self.clock = clock
        self.progress = progress
    }

    /// The archive's file name: prefix, incident, host, UTC time, extension.
    public static func archiveName(incident: String, host: String, milliseconds: Int64, format: ArchiveFormat) -> String {
        func clean(_ text: String) -> String {
            String(String.UnicodeScalarView(text.unicodeScalars.map {
                ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || $0 == "." || $0 == "_" || $0 == "-" ? $0 : "_"
            }).prefix(64))
        }
        let stamp = RFC3339.format(milliseconds: milliseconds).filter { $0 != "-" && $0 != ":" }.prefix(15) + "Z"
        return archivePrefix + clean(incident) + "-" + clean(host) + "-" + stamp + format.fileExtension
    }

    public func run() throws(ForensicsError) -> SnapshotResult {
        do {
            return try runUnchecked()
        } catch let error as ForensicsError {
            throw error
        } catch {
            throw .codec("snapshot failed: \(error)")
        }
    }

    private func runUnchecked() throws -> SnapshotResult {
        var info = stat()
        guard stat(request.outputDirectory, &info) == 0 else { throw ForensicsError.lastIO(request.outputDirectory, "stat") }
        guard info.st_mode & S_IFMT == S_IFDIR else { throw ForensicsError.usage("\(request.outputDirectory) is not a directory") }

        let budget = ByteBudget(limit: request.byteBudget)
        let staging = try EvidenceStaging(inside: request.outputDirectory, budget: budget)
        defer { staging.remove() }

        var collector = ArtifactCollector(request: request, staging: staging)
        var outcomes: [ArtifactOutcome] = []
        var staged: [EvidenceStaging.StagedFile] = []
        for (index, spec) in request.catalog.artifacts.enumerated() {
            progress?(.collecting(artifact: spec.name, index: index + 1, total: request.catalog.artifacts.count,
                                  bytes: budget.used))
            let (outcome, files) = collector.collect(spec)
            outcomes.append(outcome)
            staged += files
        }

        let custody = CustodyRecord(
            incident: request.incident,
            operator: request.operatorName,
            host: request.host,
            clock: clock,
            tool: .init(name: "mtforensics", version: ForensicsLibrary.version),
            commandLine: request.commandLine,
            window: .init(since: RFC3339.format(milliseconds: request.sinceMilliseconds),
                          until: RFC3339.format(milliseconds: request.untilMilliseconds)),
            format: "tar+" + request.format.rawValue,
            byteBudget: request.byteBudget,
            redaction: .init(secrets: "replaced by fingerprints (redacted-sha256-…)",
                             addresses: request.redactAddresses
                                ? "replaced by keyed pseudonyms (HMAC-SHA256, key for this snapshot only, discarded)"
                                : "kept",
                             secretCount: collector.secrets.count),
            artifacts: outcomes)
        // The whole record passes the redactor: sources, command lines and errors can quote secrets.
        let custodyBytes = collector.redact(custody.encoded())
        let redactedCustody = try CustodyRecord.decode(custodyBytes)
        let manifest = EvidenceManifest(files: [
            .init(path: CustodyRecord.fileName, size: UInt64(custodyBytes.count), sha256: SHA256.hash(custodyBytes).hexString),
        ] + staged.map { .init(path: $0.archivePath, size: $0.size, sha256: $0.sha256) })
        let manifestBytes = manifest.encoded()

        var members: [EvidenceArchiveWriter.Member] = [
            .init(path: EvidenceManifest.fileName, contents: manifestBytes, size: UInt64(manifestBytes.count)),
            .init(path: CustodyRecord.fileName, contents: custodyBytes, size: UInt64(custodyBytes.count)),
        ]
        members += staged.map { .init(path: $0.archivePath, stagingPath: $0.stagingPath, size: $0.size, sha256: $0.sha256) }

        let name = Self.archiveName(incident: request.incident, host: request.host,
                                    milliseconds: request.untilMilliseconds, format: request.format)
        let progress = self.progress
        let writer = EvidenceArchiveWriter(format: request.format, modificationTime: request.untilMilliseconds / 1000,
                                           progress: progress.map { report in { report(.packing(bytes: $0, total: $1)) } })
        let written = try writer.write(members: members, to: request.outputDirectory + "/" + name)
        return SnapshotResult(archivePath: written.archivePath, sidecarPath: written.sidecarPath, sha256: written.sha256,
                              archiveBytes: written.bytes, custody: redactedCustody, manifest: manifest)
    }
}
