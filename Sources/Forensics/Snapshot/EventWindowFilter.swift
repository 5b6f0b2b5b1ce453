import EventLog
#if canImport(Glibc)
import Glibc
#endif

/// Keeps the event lines whose `@timestamp` lies within the snapshot's window. Lines
/// without a readable timestamp are kept (evidence is not dropped on a guess); lines
/// longer than an event can be are passed through in pieces.
final class EventWindowFilter {
    private let since: Int64
    private let until: Int64
    private var line: [UInt8] = []
    private var passingLongLine = false
    private(set) var linesOutside = 0
    private(set) var linesKept = 0
    static let maximumLine = 64 * 1024
    private static let key = Array("\"@timestamp\"".utf8)

    init(sinceMilliseconds: Int64, untilMilliseconds: Int64) {
        self.since = sinceMilliseconds
        self.until = untilMilliseconds
    }

    func process(_ chunk: UnsafeRawBufferPointer, final: Bool) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(chunk.count)
        var start = 0
        // Whole lines are moved as slices, decided where they lie in the chunk: this runs
        // over every byte of the event log.
        while start < chunk.count {
            let found = memchr(chunk.baseAddress! + start, 0x0A, chunk.count - start)
            let newline = found.map { chunk.baseAddress!.distance(to: UnsafeRawPointer($0)) }
            let end = newline.map { $0 + 1 } ?? chunk.count
            let piece = UnsafeRawBufferPointer(rebasing: chunk[start..<end])
            if passingLongLine {
                output.append(contentsOf: piece)
                if newline != nil { passingLongLine = false }
            } else if newline != nil, line.isEmpty {
                if keeps(piece) { output.append(contentsOf: piece) }
            } else {
                line.append(contentsOf: piece)
                if newline != nil {
                    finishLine(into: &output)
                } else if line.count > Self.maximumLine {
                    output += line
                    line.removeAll(keepingCapacity: true)
                    passingLongLine = true
                    linesKept += 1
                }
            }
            start = end
        }
        if final, !line.isEmpty { finishLine(into: &output) }
        return output
    }

    private func finishLine(into output: inout [UInt8]) {
        defer { line.removeAll(keepingCapacity: true) }
        if line.withUnsafeBytes({ keeps($0) }) { output += line }
    }

    private func keeps(_ line: UnsafeRawBufferPointer) -> Bool {
        if let time = Self.timestamp(in: line), time < since || time > until {
            linesOutside += 1
            return false
        }
        linesKept += 1
        return true
    }

    /// The `@timestamp` of a JSON event line, in milliseconds since the epoch.
    static func timestamp(in line: [UInt8]) -> Int64? {
        line.withUnsafeBytes { timestamp(in: $0) }
    }

    static func timestamp(in line: UnsafeRawBufferPointer) -> Int64? {
        // The event writer puts `@timestamp` first; any other layout is searched for.
        var index: Int
        if line.count > leading.count, leading.withUnsafeBytes({ $0.elementsEqual(line[..<leading.count]) }) {
            index = leading.count - 1
        } else {
            guard let found = search(key, in: line) else { return nil }
            index = found + key.count
            while index < line.count, line[index] == UInt8(ascii: " ") { index += 1 }
            guard index < line.count, line[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            while index < line.count, line[index] == UInt8(ascii: " ") { index += 1 }
            guard index < line.count, line[index] == UInt8(ascii: "\"") else { return nil }
        }
        index += 1
        guard let close = line[index...].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
        return RFC3339.milliseconds(line[index..<close])
    }

    private static let leading = Array("{\"@timestamp\":\"".utf8)

    private static func search(_ needle: [UInt8], in haystack: UnsafeRawBufferPointer) -> Int? {
        guard haystack.count >= needle.count, let first = needle.first else { return nil }
        var index = 0
        while index <= haystack.count - needle.count {
            guard let candidate = haystack[index...(haystack.count - needle.count)].firstIndex(of: first) else { return nil }
            if needle.withUnsafeBytes({ $0.elementsEqual(haystack[candidate..<(candidate + needle.count)]) }) { return candidate }
            index = candidate + 1
        }
        return nil
    }
}

/// RFC 3339 timestamps, as the event log writes them and the custody record states them.
public enum RFC3339 {
    /// `2026-11-24T22:56:06.123Z` (or with an offset, or without fractions) to milliseconds.
    public static func milliseconds(_ text: some Collection<UInt8>) -> Int64? {
        let bytes = Array(text)
        guard bytes.count >= 20 else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[range] {
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = number(0..<4), bytes[4] == UInt8(ascii: "-"), let month = number(5..<7), bytes[7] == UInt8(ascii: "-"),
              let day = number(8..<10), bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: "t") || bytes[10] == UInt8(ascii: " "),
              let hour = number(11..<13), bytes[13] == UInt8(ascii: ":"), let minute = number(14..<16),
              bytes[16] == UInt8(ascii: ":"), let second = number(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second <= 60 else { return nil }
        var index = 19
        var millisecond = 0
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            var digits = 0
            while index < bytes.count, (48...57).contains(bytes[index]) {
                if digits < 3 { millisecond = millisecond * 10 + Int(bytes[index] - 48) }
                digits += 1
                index += 1
            }
            guard digits > 0 else { return nil }
            if digits < 3 { for _ in digits..<3 { millisecond *= 10 } }
        }
        guard index < bytes.count else { return nil }
        var offsetMinutes = 0
        switch bytes[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            index += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard let hours = number((index + 1)..<(index + 3)), index + 3 < bytes.count, bytes[index + 3] == UInt8(ascii: ":"),
                  let minutes = number((index + 4)..<(index + 6)), hours < 24, minutes < 60 else { return nil }
            offsetMinutes = (hours * 60 + minutes) * (bytes[index] == UInt8(ascii: "-") ? -1 : 1)
            index += 6
        default:
            return nil
        }
        guard index == bytes.count else { return nil }
        let days = Event.daysSinceEpoch(year: year, month: month, day: day)
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetMinutes * 60)
        return seconds * 1000 + Int64(millisecond)
    }

    /// `2026-11-24T22:56:06.123Z`.
    public static func format(milliseconds: Int64) -> String {
        Event.timestampText(milliseconds: milliseconds)
    }
}
