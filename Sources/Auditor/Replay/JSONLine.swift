import EventLog

/// Builds one JSON object on one line, keys in the order they are added, so that output
/// is stable enough to compare with golden files. Bytes, appended in place: replay
/// writes one line per alert and decision straight into its output buffer.
struct JSONLine {
    private(set) var bytes: [UInt8] = [UInt8(ascii: "{")]
    private var first = true

    init() {}

    /// Starts the object at the end of `buffer`, taking it over until `close(into:)`.
    init(appendingTo buffer: inout [UInt8]) {
        swap(&bytes, &buffer)
        bytes.append(UInt8(ascii: "{"))
    }

    /// Ends the object and hands the buffer back.
    mutating func close(into buffer: inout [UInt8]) {
        bytes.append(UInt8(ascii: "}"))
        swap(&bytes, &buffer)
        bytes = []
    }

    /// `,"name":` in one append: every append to an array checks its uniqueness and
    /// capacity, which byte by byte was most of an alert line's cost.
    private mutating func key(_ name: StaticString) {
        let start = first ? 1 : 0
        first = false
        let count = name.utf8CodeUnitCount
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: count + 4) { buffer in
            buffer[0] = UInt8(ascii: ",")
            buffer[1] = UInt8(ascii: "\"")
            UnsafeMutableRawPointer(buffer.baseAddress! + 2).copyMemory(from: name.utf8Start, byteCount: count)
            buffer[count + 2] = UInt8(ascii: "\"")
            buffer[count + 3] = UInt8(ascii: ":")
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[start...]))
        }
    }

    private mutating func key(_ name: String) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        Self.appendQuoted(name, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
    }

    mutating func add(_ name: StaticString, _ value: String) {
        key(name)
        Self.appendQuoted(value, to: &bytes)
    }

    /// A key that is data (a group's field name), quoted as values are.
    mutating func add(key name: String, _ value: String) {
        key(name)
        Self.appendQuoted(value, to: &bytes)
    }

    mutating func add(_ name: StaticString, _ value: Int) {
        key(name)
        JSONText.appendDecimal(Int64(value), to: &bytes)
    }

    mutating func add(_ name: StaticString, _ value: Bool) {
        key(name)
        Self.append(value ? "true" : "false", to: &bytes)
    }

    /// Rounded to two decimals; integral values print without a fraction.
    mutating func add(_ name: StaticString, _ value: Double) {
        key(name)
        bytes.append(contentsOf: Self.format(value).utf8)
    }

    mutating func addTime(_ name: StaticString, _ milliseconds: Int64) {
        key(name)
        bytes.append(UInt8(ascii: "\""))
        JSONText.appendTimestamp(milliseconds, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func add(_ name: StaticString, _ object: JSONLine) {
        key(name)
        bytes.append(contentsOf: object.bytes)
        bytes.append(UInt8(ascii: "}"))
    }

    /// `"name":{"field":"value",…}`
    mutating func add(_ name: StaticString, _ values: [GroupValue]) {
        key(name)
        var object = JSONLine(appendingTo: &bytes)
        for value in values { object.add(key: value.field, value.value) }
        object.close(into: &bytes)
    }

    mutating func addArray(_ name: StaticString, _ objects: [JSONLine]) {
        key(name)
        bytes.append(UInt8(ascii: "["))
        for (index, object) in objects.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: object.bytes)
            bytes.append(UInt8(ascii: "}"))
        }
        bytes.append(UInt8(ascii: "]"))
    }

    var finished: String { String(decoding: bytes, as: UTF8.self) + "}" }

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

    private static func append(_ text: StaticString, to bytes: inout [UInt8]) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// The event log's one escaping rule (`JSONText`), for alert and decision lines too.
    static func appendQuoted(_ value: String, to bytes: inout [UInt8]) {
        JSONText.appendQuoted(value, to: &bytes)
    }
}

extension Finding {
    /// The finding as one JSON Lines record: `{"type":"alert",…}`, `{"type":"decision",…}`
    /// or, with `--explain`, `{"type":"match",…}` naming the event's `source` (file:line).
    public func jsonLine(source: String? = nil) -> String {
        var bytes: [UInt8] = []
        appendJSONLine(source: source, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `jsonLine(source:)` to `buffer`, without its newline.
    public func appendJSONLine(source: String? = nil, to buffer: inout [UInt8]) {
        var line = JSONLine(appendingTo: &buffer)
        switch self {
        case .alert(let alert):
            line.add("type", "alert")
            line.addTime("time", alert.time)
            line.add("rule", alert.rule)
            line.add("kind", alert.kind)
            if !alert.group.isEmpty { line.add("group", alert.group) }
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
            if !match.group.isEmpty { line.add("group", match.group) }
            line.add("level", match.level)
            line.add("limit", match.limit)
        }
        line.close(into: &buffer)
    }
}
