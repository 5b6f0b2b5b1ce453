import Foundation
import EventLog

/// How `mtforensics timeline` prints: aligned text for reading, CSV for a spreadsheet,
/// JSON Lines for other tools.
public enum TimelineFormat: String, Sendable, CaseIterable {
    case text, csv, jsonl

    /// The line before the entries, if the format has one.
    public var header: String? {
        self == .csv ? "time,source,kind,subject,details,origin" : nil
    }

    public func line(_ entry: TimelineEntry) -> String {
        let time = Event.timestampText(milliseconds: entry.time)
        let details = entry.details.map { "\($0.name)=\($0.value)" }.joined(separator: " ")
        switch self {
        case .text:
            var text = time + "  " + entry.source.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
                + entry.kind.padding(toLength: 18, withPad: " ", startingAt: 0) + " " + (entry.subject ?? "-")
            if !details.isEmpty { text += "  " + details }
            return Self.printable(text)
        case .csv:
            return [time, entry.source.rawValue, entry.kind, entry.subject ?? "", details, entry.origin]
                .map(Self.csvField).joined(separator: ",")
        case .jsonl:
            var bytes: [UInt8] = []
            func field(_ name: String, _ value: String, first: Bool = false) {
                if !first { bytes.append(UInt8(ascii: ",")) }
                JSONText.appendQuoted(name, to: &bytes)
                bytes.append(UInt8(ascii: ":"))
                JSONText.appendQuoted(value, to: &bytes)
            }
            bytes.append(UInt8(ascii: "{"))
            field("time", time, first: true)
            field("source", entry.source.rawValue)
            field("kind", entry.kind)
            if let subject = entry.subject { field("subject", subject) }
            if !entry.details.isEmpty {
                bytes += Array(",\"details\":{".utf8)
                for (index, detail) in entry.details.enumerated() { field(detail.name, detail.value, first: index == 0) }
                bytes.append(UInt8(ascii: "}"))
            }
            field("origin", entry.origin)
            bytes.append(UInt8(ascii: "}"))
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    /// RFC 4180: quoted when it holds a comma, quote or line break; a field that a
    /// spreadsheet would run as a formula is prefixed with a quote mark.
    static func csvField(_ value: String) -> String {
        var value = value
        if let first = value.first, "=+-@".contains(first), Double(value) == nil { value = "'" + value }
        guard value.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return value }
        return "\"" + value.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Control characters from the inputs are shown escaped, never sent to the terminal.
    static func printable(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return text }
        var result = ""
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F {
                result += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                result.unicodeScalars.append(scalar)
            }
        }
        return result
    }
}
