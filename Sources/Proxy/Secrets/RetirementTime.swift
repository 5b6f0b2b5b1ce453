import EventLog

/// The text of a secret's `retires_at`: RFC 3339 UTC to the second, `2026-01-31T12:00:00Z`
/// (milliseconds `.123` and an offset of `+00:00` are read too; other offsets are refused
/// so that a file means the same on every machine).
public enum RetirementTime {
    public static func parse(_ text: some StringProtocol) -> Int64? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes.count <= 29 else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for index in range {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) else { return nil }
                value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
            }
            return value
        }
        func byte(_ index: Int, _ character: Unicode.Scalar) -> Bool { bytes[index] == UInt8(ascii: character) }
        guard let year = number(0..<4), byte(4, "-"), let month = number(5..<7), byte(7, "-"),
              let day = number(8..<10), byte(10, "T") || byte(10, "t"), let hour = number(11..<13), byte(13, ":"),
              let minute = number(14..<16), byte(16, ":"), let second = number(17..<19),
              (1...12).contains(month), (1...daysIn(month: month, year: year)).contains(day),
              hour < 24, minute < 60, second < 60 else { return nil }
        var index = 19
        var milliseconds = 0
        if byte(index, ".") {
            guard bytes.count >= index + 4, let fraction = number(index + 1..<index + 4) else { return nil }
            milliseconds = fraction
            index += 4
        }
        let zone = Array(bytes[index...])
        guard zone == Array("Z".utf8) || zone == Array("z".utf8) || zone == Array("+00:00".utf8) else { return nil }
        let days = Int64(Event.daysSinceEpoch(year: year, month: month, day: day))
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second)
        return seconds * 1000 + Int64(milliseconds)
    }

    /// Whole seconds, `2026-01-31T12:00:00Z` (milliseconds only when there are any).
    public static func format(milliseconds: Int64) -> String {
        let text = Event.timestampText(milliseconds: milliseconds)
        return text.hasSuffix(".000Z") ? String(text.dropLast(5)) + "Z" : text
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
