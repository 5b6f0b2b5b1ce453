/// The text forms shared by every configuration file and command line: durations
/// (`500ms`, `30s`, `5m`, `2h`, `7d`, combinable as `1h30m`) and byte sizes (`64KiB`,
/// `100MiB`, `1GiB`; decimal `KB`, `MB`, `GB`; a plain number is bytes).
public enum ConfigText {
    private static let durationUnits: [(suffix: String, nanoseconds: Int64)] = [
        ("ns", 1),
        ("us", 1_000),
        ("ms", 1_000_000),
        ("s", 1_000_000_000),
        ("m", 60_000_000_000),
        ("h", 3_600_000_000_000),
        ("d", 86_400_000_000_000),
    ]

    private static let sizeUnits: [String: Int64] = [
        "": 1, "B": 1,
        "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
        "KB": 1_000, "MB": 1_000_000, "GB": 1_000_000_000, "TB": 1_000_000_000_000,
    ]

    /// Parses a duration; nil for anything else, including a number without a unit,
    /// a negative duration and one that does not fit in 64-bit nanoseconds.
    public static func duration(_ text: some StringProtocol) -> Duration? {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= 64 else { return nil }
        var index = 0
        var total: Int64 = 0
        while index < bytes.count {
            guard case let (number, unitStart)? = decimalNumber(bytes, at: index) else { return nil }
            index = unitStart
            while index < bytes.count, decimalDigit(bytes[index]) == nil { index += 1 }
            let unit = String(decoding: bytes[unitStart..<index], as: UTF8.self)
            guard let scale = durationUnits.first(where: { $0.suffix == unit })?.nanoseconds else { return nil }
            let (part, overflow1) = number.multipliedReportingOverflow(by: scale)
            let (sum, overflow2) = total.addingReportingOverflow(part)
            if overflow1 || overflow2 { return nil }
            total = sum
        }
        return .nanoseconds(total)
    }

    /// Exact text for a duration that `duration(_:)` reads back: `500ms`, `30s`, `1h30m`.
    public static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, attoseconds >= 0 else { return "\(duration)" }
        if seconds == 0 && attoseconds == 0 { return "0s" }
        let whole = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let exact = whole.partialValue.addingReportingOverflow(attoseconds / 1_000_000_000)
        if whole.overflow || exact.overflow { return "\(seconds)s" }
        var rest = exact.partialValue
        var text = ""
        for unit in durationUnits.reversed() where rest >= unit.nanoseconds {
            text += "\(rest / unit.nanoseconds)\(unit.suffix)"
            rest %= unit.nanoseconds
        }
        return text
    }

    /// Whole milliseconds of a duration, rounded down.
    public static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000 + attoseconds / 1_000_000_000_000_000
    }

    /// Parses a byte size; nil for anything else or a size above `Int64.max`.
    public static func byteSize(_ text: some StringProtocol) -> Int64? {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty, bytes.count <= 64 else { return nil }
        guard case let (number, unitStart)? = decimalNumber(bytes, at: 0) else { return nil }
        let unit = String(decoding: bytes[unitStart...], as: UTF8.self)
        guard let scale = sizeUnits[unit] else { return nil }
        let (value, overflow) = number.multipliedReportingOverflow(by: scale)
        return overflow ? nil : value
    }

    /// A byte count in the largest binary unit that divides it: `64KiB`, `1GiB`, `1000B`.
    public static func formatBytes(_ value: Int64) -> String {
        for (suffix, scale) in [("TiB", Int64(1) << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)]
        where value != 0 && value % scale == 0 {
            return "\(value / scale)\(suffix)"
        }
        return "\(value)B"
    }

    /// A decimal integer with an optional sign and underscores between digits.
    public static func integer(_ text: some StringProtocol) -> Int? {
        var body = Substring(text)
        var negative = false
        if let first = body.first, first == "-" || first == "+" {
            negative = first == "-"
            body = body.dropFirst()
        }
        guard let first = body.first, let last = body.last, first != "_", last != "_",
              !body.contains("__"), body.count <= 40 else { return nil }
        let digits = body.filter { $0 != "_" }
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(negative ? "-" + digits : digits)
    }

    /// User text for a message: quoted, at most 40 characters, control characters escaped.
    public static func quoted(_ text: String) -> String {
        let shown = text.count > 40 ? text.prefix(40) + "…" : Substring(text)
        let escaped = shown.unicodeScalars.map { scalar -> String in
            switch scalar {
            case "\"": return "\\\""
            case "\\": return "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7f:
                return "\\u{\(String(scalar.value, radix: 16))}"
            default: return String(scalar)
            }
        }.joined()
        return "\"\(escaped)\""
    }

    static func describe(_ range: ClosedRange<Int>) -> String {
        switch (range.lowerBound, range.upperBound) {
        case (Int.min, Int.max): return "an integer"
        case (let low, Int.max): return "at least \(low)"
        case (Int.min, let high): return "at most \(high)"
        case (let low, let high): return "between \(low) and \(high)"
        }
    }

    /// The known name within edit distance 2 of `name` (a likely typo), if any.
    public static func nearest(to name: String, among known: some Sequence<String>) -> String? {
        let source = Array(name.lowercased().unicodeScalars)
        guard source.count <= 64 else { return nil }
        var best: (name: String, distance: Int)?
        for candidate in known.sorted() {
            let target = Array(candidate.lowercased().unicodeScalars)
            let distance = editDistance(source, target)
            if distance <= 2, distance < (best?.distance ?? Int.max) {
                best = (candidate, distance)
            }
        }
        return best?.name
    }

    private static func editDistance(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(previous[j] + 1, current[j - 1] + 1, substitution)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }

    /// The decimal digits from `start`, and where they end; nil when there are none or
    /// their value does not fit in 64 bits.
    private static func decimalNumber(_ bytes: [UInt8], at start: Int) -> (value: Int64, end: Int)? {
        var index = start
        var number: Int64 = 0
        while index < bytes.count, let digit = decimalDigit(bytes[index]) {
            let (shifted, overflow1) = number.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = shifted.addingReportingOverflow(digit)
            if overflow1 || overflow2 { return nil }
            number = sum
            index += 1
        }
        return index > start ? (number, index) : nil
    }

    private static func decimalDigit(_ byte: UInt8) -> Int64? {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") ? Int64(byte - UInt8(ascii: "0")) : nil
    }
}
