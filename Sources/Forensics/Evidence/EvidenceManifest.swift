import Foundation

/// `manifest.json`: the path, size and SHA-256 of every other file in the archive, of
/// its uncompressed bytes. It is the first entry, so a reader can check files as they
/// stream past; it does not list itself.
public struct EvidenceManifest: Codable, Sendable, Equatable {
    public static let fileName = "manifest.json"
    public static let formatName = "mtshield-evidence-manifest"
    public static let currentVersion = 1
    /// A manifest larger than this is refused before it is parsed.
    public static let maximumSize = 16 << 20

    public struct Entry: Codable, Sendable, Equatable {
        public var path: String
        public var size: UInt64
        /// Lower-case hex.
        public var sha256: String

        public init(path: String, size: UInt64, sha256: String) {
            self.path = path
            self.size = size
            self.sha256 = sha256
        }
    }

    public var format: String
    public var version: Int
    public var algorithm: String
    public var files: [Entry]

    public init(files: [Entry]) {
        self.format = Self.formatName
        self.version = Self.currentVersion
        self.algorithm = "sha256"
        self.files = files
    }

    public func encoded() -> [UInt8] {
        Array(EvidenceJSON.encode(self))
    }

    public func entry(for path: String) -> Entry? {
        files.first { $0.path == path }
    }

    /// Decodes and checks a manifest: its format and version, every path safe, every
    /// hash 64 lower-case hex digits, no path twice.
    public static func decode(_ bytes: [UInt8]) throws(ForensicsError) -> EvidenceManifest {
        guard bytes.count <= maximumSize else { throw .malformedManifest(reason: "larger than \(maximumSize) bytes") }
        let manifest: EvidenceManifest
        do {
            manifest = try JSONDecoder().decode(EvidenceManifest.self, from: Data(bytes))
        } catch {
            throw .malformedManifest(reason: "not a valid manifest document (\(EvidenceJSON.describe(error)))")
        }
        guard manifest.format == formatName else { throw .malformedManifest(reason: "format is not \(formatName)") }
        guard manifest.version == currentVersion else {
            throw .malformedManifest(reason: "version \(manifest.version) is not supported (expected \(currentVersion))")
        }
        guard manifest.algorithm == "sha256" else { throw .malformedManifest(reason: "algorithm is not sha256") }
        var seen = Set<String>()
        for entry in manifest.files {
            guard ArchivePath.isSafe(entry.path), entry.path != fileName else {
                throw .malformedManifest(reason: "unsafe or reserved path \(String(reflecting: entry.path))")
            }
            guard entry.sha256.utf8.count == 64,
                  entry.sha256.utf8.allSatisfy({ (48...57).contains($0) || (97...102).contains($0) }) else {
                throw .malformedManifest(reason: "\(entry.path): sha256 is not 64 lower-case hex digits")
            }
            guard seen.insert(entry.path).inserted else {
                throw .malformedManifest(reason: "\(entry.path) is listed twice")
            }
        }
        return manifest
    }
}

/// One JSON style for every record the tool writes: sorted keys, indented, UTF-8.
enum EvidenceJSON {
    static func encode(_ value: some Encodable) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            return try encoder.encode(value) + Data("\n".utf8)
        } catch {
            preconditionFailure("encoding a record of plain values cannot fail: \(error)")
        }
    }

    static func describe(_ error: Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing \(path(context.codingPath + [key]))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "wrong type at \(path(context.codingPath))"
        case DecodingError.dataCorrupted(let context):
            return context.codingPath.isEmpty ? "not JSON" : "bad value at \(path(context.codingPath))"
        default:
            return "unreadable"
        }
    }

    private static func path(_ keys: [CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
    }
}
