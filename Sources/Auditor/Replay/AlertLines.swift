import EventLog

/// Writes alert lines as `Finding.appendJSONLine` does, with the parts that are the same
/// for every alert of a rule (its name, kind, group field names and message) quoted once
/// and kept: a replay writes hundreds of thousands of alerts of a few rules, and quoting
/// those texts again for each was most of an alert line's cost. An anomaly's alert, and
/// any alert of a shape not seen before when the cache is full, takes the general path.
struct AlertLines {
    private struct Parts {
        let rule: String
        let kind: String
        let message: String
        let fields: [String]
        /// `,"rule":"…","kind":"…"`
        let head: [UInt8]
        /// `"field":` for each group field, the first after `,"group":{`.
        let fieldKeys: [[UInt8]]
        /// `,"message":"…"}`, or `}` for an empty message.
        let tail: [UInt8]

        func matches(_ alert: Alert) -> Bool {
            // Equal storage, the usual case, compares in a word or two.
            guard alert.rule == rule, alert.kind == kind, alert.message == message,
                  alert.group.count == fields.count else { return false }
            for (value, field) in zip(alert.group, fields) where value.field != field { return false }
            return true
        }
    }

    private var known: [Parts] = []
    /// Rules and shapes held: a replay has a few rules; the bound keeps memory fixed.
    static let capacity = 64

    /// Appends the line of `finding` (no newline) to `buffer`.
    mutating func append(_ finding: Finding, source: String?, to buffer: inout [UInt8]) {
        guard case .alert(let alert) = finding, alert.anomaly == nil, let parts = parts(for: alert) else {
            finding.appendJSONLine(source: source, to: &buffer)
            return
        }
        Self.append("{\"type\":\"alert\",\"time\":", to: &buffer)
        Self.appendTime(alert.time, to: &buffer)
        buffer.append(contentsOf: parts.head)
        if !alert.group.isEmpty {
            Self.append(",\"group\":{", to: &buffer)
            for (index, value) in alert.group.enumerated() {
                if index > 0 { buffer.append(UInt8(ascii: ",")) }
                buffer.append(contentsOf: parts.fieldKeys[index])
                JSONText.appendQuoted(value.value, to: &buffer)
            }
            buffer.append(UInt8(ascii: "}"))
        }
        if let overflow = alert.overflow {
            Self.append(",\"count\":", to: &buffer)
            JSONLine.appendDecimal(overflow.count, to: &buffer)
            Self.append(",\"first\":", to: &buffer)
            Self.appendTime(overflow.first, to: &buffer)
            Self.append(",\"last\":", to: &buffer)
            Self.appendTime(overflow.last, to: &buffer)
        }
        buffer.append(contentsOf: parts.tail)
    }

    private mutating func parts(for alert: Alert) -> Parts? {
        for parts in known where parts.matches(alert) { return parts }
        guard known.count < Self.capacity else { return nil }
        var head: [UInt8] = []
        Self.append(",\"rule\":", to: &head)
        JSONText.appendQuoted(alert.rule, to: &head)
        Self.append(",\"kind\":", to: &head)
        JSONText.appendQuoted(alert.kind, to: &head)
        let fieldKeys = alert.group.map { value -> [UInt8] in
            var key: [UInt8] = []
            JSONText.appendQuoted(value.field, to: &key)
            key.append(UInt8(ascii: ":"))
            return key
        }
        var tail: [UInt8] = []
        if !alert.message.isEmpty {
            Self.append(",\"message\":", to: &tail)
            JSONText.appendQuoted(alert.message, to: &tail)
        }
        tail.append(UInt8(ascii: "}"))
        let parts = Parts(rule: alert.rule, kind: alert.kind, message: alert.message, fields: alert.group.map(\.field),
                          head: head, fieldKeys: fieldKeys, tail: tail)
        known.append(parts)
        return parts
    }

    private static func append(_ text: StaticString, to buffer: inout [UInt8]) {
        buffer.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    private static func appendTime(_ milliseconds: Int64, to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "\""))
        EventTime.append(milliseconds, to: &buffer)
        buffer.append(UInt8(ascii: "\""))
    }
}
