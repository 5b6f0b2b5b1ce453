import Foundation

/// `custody.json`: who took the evidence, when, where, with what, over which time
/// window, and what became of every artifact the list asked for.
public struct CustodyRecord: Codable, Sendable, Equatable {
    public static let fileName = "custody.json"

    public struct Clock: Codable, Sendable, Equatable {
        /// When the snapshot started, RFC 3339 UTC with milliseconds.
        public var utc: String
        /// Where that time came from: the system clock (`CLOCK_REALTIME`).
        public var source: String
        /// The kernel's clocksource (`tsc`, `kvm-clock`, …) when readable.
        public var kernelClocksource: String?
        /// Whether the system reports the clock as synchronized (NTP); nil when unknown.
        public var synchronized: Bool?

        enum CodingKeys: String, CodingKey {
            case utc, source, synchronized
            case kernelClocksource = "kernel_clocksource"
        }
    }

    public struct Window: Codable, Sendable, Equatable {
        public var since: String
        public var until: String
    }

    public struct Tool: Codable, Sendable, Equatable {
        public var name: String
        public var version: String
    }

    public struct Redaction: Codable, Sendable, Equatable {
        /// Secrets from the configurations are always replaced by fingerprints.
        public var secrets: String
        /// Client addresses: `kept`, or replaced by keyed pseudonyms.
        public var addresses: String
        /// How many distinct secrets were searched for (never the secrets).
        public var secretCount: Int

        enum CodingKeys: String, CodingKey {
            case secrets, addresses
            case secretCount = "secret_count"
        }
    }

    public var incident: String
    public var `operator`: String
    public var host: String
    public var clock: Clock
    public var tool: Tool
    public var commandLine: [String]
    public var window: Window
    public var format: String
    public var byteBudget: UInt64
    public var redaction: Redaction
    public var artifacts: [ArtifactOutcome]

    enum CodingKeys: String, CodingKey {
        case incident, `operator`, host, clock, tool, window, format, redaction, artifacts
        case commandLine = "command_line"
        case byteBudget = "byte_budget"
    }

    public func encoded() -> [UInt8] {
        Array(EvidenceJSON.encode(self))
    }

    public static func decode(_ bytes: [UInt8]) throws(ForensicsError) -> CustodyRecord {
        guard bytes.count <= EvidenceManifest.maximumSize else {
            throw .malformedManifest(reason: "custody.json is larger than \(EvidenceManifest.maximumSize) bytes")
        }
        do {
            return try JSONDecoder().decode(CustodyRecord.self, from: Data(bytes))
        } catch {
            throw .malformedManifest(reason: "custody.json is not a valid custody record (\(EvidenceJSON.describe(error)))")
        }
    }
}

/// What became of one artifact of the list.
public struct ArtifactOutcome: Codable, Sendable, Equatable {
    public enum Status: String, Codable, Sendable {
        /// Captured; its file is in the archive.
        case collected
        /// The source does not exist: no file, no configuration key, no such command.
        case missing
        /// The source exists and holds nothing (or nothing within the time window).
        case empty
        /// Capturing it went wrong; `error` says how. A partial file may be kept (`truncated`).
        case failed
    }

    public var name: String
    public var kind: String
    /// The file path or command line the artifact came from.
    public var source: String?
    /// Where its content sits in the archive, when any was kept.
    public var archivePath: String?
    public var status: Status
    public var error: String?
    public var bytes: UInt64?
    /// True when the byte budget or a timeout cut the content short.
    public var truncated: Bool?
    /// Command exit status.
    public var exitStatus: Int32?
    /// Lines left out because they fell outside the time window (events).
    public var linesOutsideWindow: Int?

    enum CodingKeys: String, CodingKey {
        case name, kind, source, status, error, bytes, truncated
        case archivePath = "archive_path"
        case exitStatus = "exit_status"
        case linesOutsideWindow = "lines_outside_window"
    }

    public init(name: String, kind: String, source: String?, status: Status, archivePath: String? = nil,
                error: String? = nil, bytes: UInt64? = nil) {
        self.name = name
        self.kind = kind
        self.source = source
        self.status = status
        self.archivePath = archivePath
        self.error = error
        self.bytes = bytes
    }
}
