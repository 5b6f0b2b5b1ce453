import EventLog

/// Builds one JSON object on one line, keys in the order they are added, so that output
/// is stable enough to compare with golden files.
struct JSONLine {
    private(set) var text = "{"
    private var first = true

    private mutating func key(_ name: String) {
        if !first { text += "," }
        first = false
        Self.appendQuoted(name, to: &text)
        text += ":"
    }

    mutating func add(_ name: String, _ value: String) {
        key(name)
        Self.appendQuoted(value, to: &text)
    }

    mutating func add(_ name: String, _ value: Int) {
        key(name)
        text += String(value)
    }

    mutating func add(_ name: String, _ value: Bool) {
        key(name)
        text += value ? "true" : "false"
    }

    /// Rounded to two decimals; integral values print without a fraction.
    mutating func add(_ name: String, _ value: Double) {
        key(name)
        text += Self.format(value)
    }

    mutating func addTime(_ name: String, _ milliseconds: Int64) {
        add(name, EventTime.format(milliseconds))
    }

    mutating func add(_ name: String, _ object: JSONLine) {
        key(name)
        text += object.finished
    }

    mutating func addArray(_ name: String, _ objects: [JSONLine]) {
        key(name)
        text += "[" + objects.map(\.finished).joined(separator: ",") + "]"
    }

    var finished: String { text + "}" }

    static func format(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        let hundredths = (value * 100).rounded()
        guard abs(hundredths) < 9e17 else { return String(value) }
        let whole = Int64(hundredths)
        let sign = whole < 0 ? "-" : ""
        let magnitude = whole.magnitude
        let fraction = magnitude % 100
        if fraction == 0 { return sign + String(magnitude / 100) }
        let decimals = fraction % 10 == 0 ? String(fraction / 10) : (fraction < 10 ? "0" : "") + String(fraction)
        return sign + String(magnitude / 100) + "." + decimals
    }

    static func appendQuoted(_ value: String, to text: inout String) {
        text += "\""
        // Nearly every value (addresses, rule names, times) needs no escaping: one append.
        if value.utf8.allSatisfy({ $0 >= 0x20 && $0 != 0x22 && $0 != 0x5C && $0 != 0x7F }) {
            text += value
            text += "\""
            return
        }
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                let hex = String(scalar.value, radix: 16)
                text += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: text.unicodeScalars.append(scalar)
            }
        }
        text += "\""
    }
}

/// Event time as RFC 3339 UTC with milliseconds, the form of `@timestamp`.
enum EventTime {
    static func format(_ milliseconds: Int64) -> String {
        Event.timestampText(milliseconds: milliseconds)
    }
}

extension Finding {
    /// The finding as one JSON Lines record: `{"type":"alert",…}`, `{"type":"decision",…}`
    /// or, with `--explain`, `{"type":"match",…}` naming the event's `source` (file:line).
    public func jsonLine(source: String? = nil) -> String {
        var line = JSONLine()
        switch self {
        case .alert(let alert):
            line.add("type", "alert")
            line.addTime("time", alert.time)
            line.add("rule", alert.rule)
            line.add("kind", alert.kind)
            if !alert.group.isEmpty { line.add("group", Self.group(alert.group)) }
            if let overflow = alert.overflow {
                line.add("count", overflow.count)
                line.addTime("first", overflow.first)
                line.addTime("last", overflow.last)
            }
            if let anomaly = alert.anomaly {
                line.add("measure", anomaly.measure)
                line.addTime("interval_start", anomaly.intervalStart)
                line.add("interval", RuleEngine.format(anomaly.intervalMilliseconds))
                line.add("observed", anomaly.observed)
                line.add("mean", anomaly.mean)
                line.add("sigma", anomaly.sigma)
                line.add("limit", anomaly.limit)
            }
            if !alert.message.isEmpty { line.add("message", alert.message) }
        case .decision(let decision):
            line.add("type", "decision")
            line.add("value", decision.value)
            line.add("scope", decision.scope.rawValue)
            line.add("rule", decision.rule)
            line.add("reason", decision.reason)
            line.addTime("created", decision.created)
            line.addTime("until", decision.until)
            line.add("duration", RuleEngine.format(decision.until - decision.created))
            line.add("repeat", decision.repeatCount)
            line.add("origin", decision.origin.rawValue)
            line.add("simulated", decision.simulated)
        case .match(let match):
            line.add("type", "match")
            if let source { line.add("source", source) }
            line.add("rule", match.rule)
            if !match.group.isEmpty { line.add("group", Self.group(match.group)) }
            line.add("level", match.level)
            line.add("limit", match.limit)
        }
        return line.finished
    }

    private static func group(_ values: [GroupValue]) -> JSONLine {
        var object = JSONLine()
        for value in values { object.add(value.field, value.value) }
        return object
    }
}
