#if canImport(Glibc)
import Glibc
#endif
import EventLog

/// When a secret in service was made, from the best evidence the machine holds, for the
/// `secret_age` item. In order of trust:
///
/// 1. its `created:` in the configuration (`make run` and `mtproxy secret rotate` write it);
/// 2. the stamp in the name of the entry a rotation left behind
///    (`main.retiring-20260131-120000`: `main` got its key then), while it is in the file;
/// 3. the newest `secret.rotated` event naming it in the event log (the file and its `.1`).
///
/// None of these: the configuration's modification time only bounds the age from below
/// (the key was in the file when it last changed), so it can show a secret is too old but
/// never that it is young enough.
enum SecretDating {
    struct Dated: Equatable {
        var milliseconds: Int64
        /// Where the time comes from, in words, for the outcome's detail.
        var evidence: String
    }

    /// How much of each event file is read, from its end: a rotation older than what this
    /// holds is dated by other evidence, or not at all.
    static let eventScanLimit: Int64 = 256 << 20

    static func date(_ secret: ProxyFacts.Secret, in facts: ProxyFacts, rotationEvents: () -> [String: Dated]) -> Dated? {
        if let created = secret.created {
            return Dated(milliseconds: created, evidence: "its created: field")
        }
        if let rotation = rotationStamp(of: secret.name, among: facts.secrets) {
            return rotation
        }
        return rotationEvents()[secret.name]
    }

    /// The newest rotation of `name` recorded by a retiring entry's name.
    static func rotationStamp(of name: String, among secrets: [ProxyFacts.Secret]) -> Dated? {
        var newest: Dated?
        for other in secrets where other.retiresAt != nil {
            guard let marker = other.name.range(of: ".retiring-", options: .backwards) else { continue }
            let base = other.name[..<marker.lowerBound]
            let stamp = Array(other.name[marker.upperBound...].utf8)
            // Rotation shortens a long base so that the whole name stays within 64 characters.
            guard base == name || (other.name.count == 64 && name.hasPrefix(base)),
                  stamp.count == 15, stamp[8] == UInt8(ascii: "-") else { continue }
            let digits = String(decoding: stamp[0..<8] + stamp[9...], as: UTF8.self)
            guard digits.utf8.allSatisfy({ (48...57).contains($0) }) else { continue }
            let d = Array(digits)
            let text: String = "\(String(d[0..<4]))-\(String(d[4..<6]))-\(String(d[6..<8]))T\(String(d[8..<10])):\(String(d[10..<12])):\(String(d[12..<14]))Z"
            guard let milliseconds = RFC3339.milliseconds(Array(text.utf8)) else { continue }
            if milliseconds > newest?.milliseconds ?? Int64.min {
                newest = Dated(milliseconds: milliseconds, evidence: "the rotation that left \(other.name)")
            }
        }
        return newest
    }

    /// The newest `secret.rotated` event per secret name in the event log at `path` and
    /// its first rotated copy (`path.1`, kept plain by `delaycompress`).
    static func rotationEvents(eventLog path: String?) -> [String: Dated] {
        guard let path, path != "-" else { return [:] }
        var newest: [String: Dated] = [:]
        for file in [path + ".1", path] {
            scan(file) { line in
                guard let event = try? Event(jsonLine: line), event.action == .secretRotated, let name = event.secretName,
                      event.timestampMilliseconds > newest[name]?.milliseconds ?? Int64.min else { return }
                newest[name] = Dated(milliseconds: event.timestampMilliseconds, evidence: "a secret.rotated event in \(file)")
            }
        }
        return newest
    }

    private static let needle = Array("secret.rotated".utf8)

    /// Calls `body` with every line of the file's last `eventScanLimit` bytes that mentions
    /// a rotation.
    private static func scan(_ path: String, _ body: ([UInt8]) -> Void) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { return }
        var skipFirstLine = false
        if Int64(info.st_size) > eventScanLimit {
            lseek(descriptor, off_t(Int64(info.st_size) - eventScanLimit), SEEK_SET)
            skipFirstLine = true
        }
        var pending: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            pending += chunk[..<count]
            guard let lastNewline = pending.lastIndex(of: UInt8(ascii: "\n")) else {
                // No event line is this long (4 KiB at most): skip to the next newline.
                if pending.count > 1 << 16 {
                    pending.removeAll()
                    skipFirstLine = true
                }
                continue
            }
            var start = 0
            if skipFirstLine, let first = pending.firstIndex(of: UInt8(ascii: "\n")) {
                start = first + 1
                skipFirstLine = false
            }
            lines(in: pending[start..<lastNewline], body)
            pending.removeSubrange(..<(lastNewline + 1))
        }
        if !skipFirstLine { lines(in: pending[...], body) }
    }

    private static func lines(in bytes: ArraySlice<UInt8>, _ body: ([UInt8]) -> Void) {
        var searchFrom = bytes.startIndex
        while let match = firstMatch(in: bytes, from: searchFrom) {
            let lineStart = bytes[..<match].lastIndex(of: UInt8(ascii: "\n")).map { $0 + 1 } ?? bytes.startIndex
            let lineEnd = bytes[match...].firstIndex(of: UInt8(ascii: "\n")) ?? bytes.endIndex
            body(Array(bytes[lineStart..<lineEnd]))
            searchFrom = lineEnd
        }
    }

    private static func firstMatch(in bytes: ArraySlice<UInt8>, from start: Int) -> Int? {
        var index = start
        while bytes.endIndex - index >= needle.count, let candidate = bytes[index...].firstIndex(of: needle[0]) {
            guard bytes.endIndex - candidate >= needle.count else { return nil }
            if bytes[candidate..<candidate + needle.count].elementsEqual(needle) { return candidate }
            index = candidate + 1
        }
        return nil
    }
}
