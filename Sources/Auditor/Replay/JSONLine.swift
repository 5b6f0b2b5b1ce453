import EventLog

/// Builds one JSON object on one line, keys in the order they are added, so that output
/// is stable enough to compare with golden files. Bytes, appended in place: replay
/// writes one line per alert and decision straight into its output buffer.
struct JSONLine {
    private(set) var bytes: [UInt8] = [UInt8(ascii: "{")]
    private var first = true
    /// Set while the line is written with `appendingTo:times:`.
    private var times: EventTime.Cache?

    init() {}

    /// Starts the object at the end of `buffer`, taking it over until `close(into:)`.
    init(appendingTo buffer: inout [UInt8]) {
        swap(&bytes, &buffer)
        bytes.append(UInt8(ascii: "{"))
    }

    /// As `init(appendingTo:)`, writing times with `cache`'s date until `close(into:times:)`.
    init(appendingTo buffer: inout [UInt8], times cache: inout EventTime.Cache) {
        self.init(appendingTo: &buffer)
        times = cache
        cache = EventTime.Cache()
    }

    /// Ends the object and hands the buffer back.
    mutating func close(into buffer: inout [UInt8]) {
        bytes.append(UInt8(ascii: "}"))
        swap(&bytes, &buffer)
        bytes = []
    }

    /// Ends the object, handing the buffer and the time cache back.
    mutating func close(into buffer: inout [UInt8], times cache: inout EventTime.Cache) {
        close(into: &buffer)
        if let times { cache = times }
    }

    private mutating func key(_ name: StaticString) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        first = false
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
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
        Self.appendDecimal(value, to: &bytes)
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
        if times != nil {
            EventTime.append(milliseconds, to: &bytes, cache: &times!)
        } else {
            EventTime.append(milliseconds, to: &bytes)
        }
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

    static func appendDecimal(_ value: Int, to bytes: inout [UInt8]) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        var rest = value.magnitude
        let start = bytes.count
        repeat {
            bytes.append(UInt8(ascii: "0") + UInt8(rest % 10))
            rest /= 10
        } while rest > 0
        bytes[start...].reverse()
    }

    /// The event log's one escaping rule (`JSONText`), for alert and decision lines too.
    static func appendQuoted(_ value: String, to bytes: inout [UInt8]) {
        JSONText.appendQuoted(value, to: &bytes)
    }
}

/// Event time as RFC 3339 UTC with milliseconds, the form of `@timestamp`.
enum EventTime {
    static func format(_ milliseconds: Int64) -> String {
        Event.timestampText(milliseconds: milliseconds)
    }

    static func append(_ milliseconds: Int64, to bytes: inout [UInt8]) {
        JSONText.appendTimestamp(milliseconds, to: &bytes)
    }

    /// The date part (`YYYY-MM-DDT`) of the last day written: replay writes thousands of
    /// times a day, and the calendar arithmetic was most of an alert's JSON.
    struct Cache {
        var day: Int64 = .min
        var date: [UInt8] = []
    }

    /// Years 0000…9999, the range `JSONText.appendTimestamp` writes unclamped.
    private static let cacheable: ClosedRange<Int64> = -62_167_219_200_000...253_402_300_799_999

    /// As `append(_:to:)`, the date taken from `cache` when it is the same day.
    static func append(_ milliseconds: Int64, to bytes: inout [UInt8], cache: inout Cache) {
        guard cacheable.contains(milliseconds) else { return append(milliseconds, to: &bytes) }
        var day = milliseconds / 86_400_000
        var rest = milliseconds % 86_400_000
        if rest < 0 { (day, rest) = (day - 1, rest + 86_400_000) }
        if day != cache.day {
            var text: [UInt8] = []
            JSONText.appendTimestamp(day * 86_400_000, to: &text)
            cache = Cache(day: day, date: Array(text.prefix(11)))
        }
        bytes.append(contentsOf: cache.date)
        let second = rest / 1000
        appendTwoDigits(second / 3600, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        appendTwoDigits(second / 60 % 60, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        appendTwoDigits(second % 60, to: &bytes)
        bytes.append(UInt8(ascii: "."))
        let fraction = rest % 1000
        bytes.append(UInt8(ascii: "0") + UInt8(fraction / 100))
        appendTwoDigits(fraction % 100, to: &bytes)
        bytes.append(UInt8(ascii: "Z"))
    }

    private static func appendTwoDigits(_ value: Int64, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "0") + UInt8(value / 10))
        bytes.append(UInt8(ascii: "0") + UInt8(value % 10))
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
        var times = EventTime.Cache()
        appendJSONLine(source: source, to: &buffer, times: &times)
    }

    /// As `appendJSONLine(source:to:)`, with the date of the last time written kept in `times`.
    func appendJSONLine(source: String? = nil, to buffer: inout [UInt8], times: inout EventTime.Cache) {
        var line = JSONLine(appendingTo: &buffer, times: &times)
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
        line.close(into: &buffer, times: &times)
    }
}
