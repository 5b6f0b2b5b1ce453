#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EventLog
import Foundation

/// Writes one report per alert into a directory: `NAME.json`, `NAME.md` and `NAME.html`,
/// where NAME is the alert's time, rule and a short hash
/// (`20260601T001500.123Z-handshake-failures-per-ip-1a2b3c4d`). Each file is written to a
/// temporary name, synced and renamed, so a reader never sees half a report; files are
/// mode 0640 and the directory, created when missing, 0750.
///
/// The daemon, for each alert the engine finds:
/// ```swift
/// engine.keepEvidence()
/// let writer = AlertReportWriter(directory: "/var/lib/mtshield/reports")
/// for (alert, decision) in Finding.alertsWithDecisions(findings) {
///     _ = try writer.write(alert: alert, context: engine.evidence(for: alert, decision: decision))
/// }
/// ```
public struct AlertReportWriter: Sendable {
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    /// Writes the three files of `alert`'s report and returns their paths (JSON,
    /// Markdown, HTML). `context` is what `RuleEngine.evidence(for:decision:)` gives.
    @discardableResult
    public func write(alert: Alert, context: AlertEvidence) throws(AuditorError) -> [String] {
        try write(AlertReport(alert: alert, evidence: context))
    }

    /// Writes an already assembled report.
    @discardableResult
    public func write(_ report: AlertReport) throws(AuditorError) -> [String] {
        try Self.makeDirectory(directory)
        let base = directory + "/" + Self.fileStem(report)
        let json: [UInt8]
        do {
            json = Array(try Self.encoder.encode(report)) + [0x0A]
        } catch {
            throw AuditorError.input(path: base + ".json", message: "cannot encode the report: \(error)")
        }
        var paths: [String] = []
        for (suffix, bytes) in [(".json", json), (".md", Array(report.markdown.utf8)), (".html", Array(report.html.utf8))] {
            try Self.writeAtomically(bytes, to: base + suffix)
            paths.append(base + suffix)
        }
        return paths
    }

    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }()

    /// `TIME-RULE-HASH`: sorts by time; the rule name is cut to safe characters; the
    /// hash (FNV-1a of rule, time and group) keeps two groups' alerts of one moment apart.
    static func fileStem(_ report: AlertReport) -> String {
        let compactTime = report.time.filter { $0 != "-" && $0 != ":" }
        let rule = String(report.rule.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") ? $0 : "_" }.prefix(64))
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "\(report.rule)\u{0}\(report.timeMs)\u{0}\(report.groupText)".utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        let hex = String(hash & 0xFFFF_FFFF, radix: 16)
        return "\(compactTime)-\(rule)-\(String(repeating: "0", count: 8 - hex.count))\(hex)"
    }

    static func makeDirectory(_ path: String) throws(AuditorError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for component in path.split(separator: "/") {
            prefix += component
            if mkdir(prefix, 0o750) != 0 && errno != EEXIST {
                throw AuditorError.input(path: prefix, message: "cannot create the reports directory: \(String(cString: strerror(errno)))")
            }
            prefix += "/"
        }
    }

    /// Temporary file beside the target, synced, renamed over it: all or nothing.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws(AuditorError) {
        let slash = path.lastIndex(of: "/").map { path.index(after: $0) } ?? path.startIndex
        let temporary = String(path[..<slash]) + "." + String(path[slash...]) + ".tmp\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o640)
        guard descriptor >= 0 else {
            throw AuditorError.input(path: temporary, message: "cannot create: \(String(cString: strerror(errno)))")
        }
        var failure: String?
        if fchmod(descriptor, 0o640) != 0 { failure = "cannot set mode 0640: \(String(cString: strerror(errno)))" }
        var offset = 0
        while failure == nil && offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                failure = "cannot write: \(String(cString: strerror(errno)))"
            } else {
                offset += written
            }
        }
        if failure == nil && fsync(descriptor) != 0 { failure = "cannot sync: \(String(cString: strerror(errno)))" }
        close(descriptor)
        if failure == nil && rename(temporary, path) != 0 { failure = "cannot rename into place: \(String(cString: strerror(errno)))" }
        if let failure {
            unlink(temporary)
            throw AuditorError.input(path: path, message: failure)
        }
    }
}

extension Finding {
    /// The alerts among `findings`, each with the decision the engine appended right
    /// after it (a rule that fired and banned), for `RuleEngine.evidence(for:decision:)`.
    public static func alertsWithDecisions(_ findings: [Finding]) -> [(alert: Alert, decision: Decision?)] {
        var result: [(alert: Alert, decision: Decision?)] = []
        for finding in findings {
            switch finding {
            case .alert(let alert): result.append((alert, nil))
            case .decision(let decision):
                if let last = result.indices.last, result[last].decision == nil, result[last].alert.rule == decision.rule {
                    result[last].decision = decision
                }
            case .match: break
            }
        }
        return result
    }
}
