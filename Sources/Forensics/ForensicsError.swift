import ConfigFile

#if canImport(Glibc)
import Glibc
#endif

/// Everything that stops mtforensics, said so that a responder knows what to fix:
/// which file, which offset or entry, which field.
public enum ForensicsError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A system call on `path` failed.
    case io(path: String, operation: String, code: Int32)
    /// The container (LZ4 frame, gzip stream or tar) is damaged or not one we read.
    /// `offset` is in the uncompressed tar stream when known; `entry` the file being read.
    case damagedArchive(reason: String, offset: UInt64?, entry: String?)
    /// `manifest.json` or `custody.json` is missing or malformed.
    case malformedManifest(reason: String)
    /// The artifact list or a configuration file is wrong, located by file, line and key.
    case configuration(ConfigError)
    /// A command-line value or combination that cannot work.
    case usage(String)
    /// An archive path that could escape the extraction directory or is not well formed.
    case unsafePath(String)
    /// The compressor or decompressor library reported an error.
    case codec(String)
    /// An incident journal that cannot be read or extended, with the line when known.
    case journal(path: String, line: Int?, reason: String)
    /// A runbook step or resume that must not happen (a destructive step before any
    /// snapshot, a runbook changed since the incident started, a step out of order).
    case refused(String)

    public var description: String {
        switch self {
        case .io(let path, let operation, let code):
            return "\(path): \(operation) failed: \(String(cString: strerror(code)))"
        case .damagedArchive(let reason, let offset, let entry):
            var text = "archive is damaged"
            if let entry { text += " in \(entry)" }
            if let offset { text += " at uncompressed offset \(offset)" }
            return text + ": " + reason
        case .malformedManifest(let reason):
            return "manifest: \(reason)"
        case .configuration(let error):
            return error.description
        case .usage(let message):
            return message
        case .unsafePath(let path):
            return "refusing unsafe archive path \(String(reflecting: path))"
        case .codec(let message):
            return message
        case .journal(let path, let line, let reason):
            return line.map { "\(path):\($0): \(reason)" } ?? "\(path): \(reason)"
        case .refused(let message):
            return "refused: " + message
        }
    }

    static func lastIO(_ path: String, _ operation: String) -> ForensicsError {
        .io(path: path, operation: operation, code: errno)
    }
}
