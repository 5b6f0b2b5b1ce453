import EventLog

/// Writes alert and decision lines as `Finding.appendJSONLine` does, with the parts that
/// are the same for every finding of a rule (its name, kind, group field names, message,
/// and a ban's duration) quoted once and kept: a replay writes hundreds of thousands of
/// alerts and decisions of a few rules, and quoting those texts again for each was most
/// of a line's cost. An anomaly's alert, a match, and any finding of a shape not seen
/// before when the cache is full, takes the general path.
struct FindingLines {
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

    /// A decision's constant parts: its rule's name and its duration.
    private struct DecisionParts {
        let rule: String
        let duration: Int64
        /// `,"rule":"…"`
        let ruleText: [UInt8]
        /// `,"duration":"…"`
        let durationText: [UInt8]
    }

    private var known: [Parts] = []
    private var decisions: [DecisionParts] = []
    /// Rules and shapes held: a replay has a few rules; the bound keeps memory fixed.
    static let capacity = 64

    /// Appends the line of `finding` (no newline) to `buffer`.
    mutating func append(_ finding: Finding, source: String?, to buffer: inout [UInt8]) {
        switch finding {
        case .alert(let alert) where alert.anomaly == nil:
            if let parts = parts(for: alert) { return append(alert, parts, to: &buffer) }
        case .decision(let decision):
            if let parts = parts(for: decision) { return append(decision, parts, to: &buffer) }
        default:
            break
        }
        finding.appendJSONLine(source: source, to: &buffer)
    }

    private func append(_ alert: Alert, _ parts: Parts, to buffer: inout [UInt8]) {
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
            JSONText.appendDecimal(Int64(overflow.count), to: &buffer)
            Self.append(",\"first\":", to: &buffer)
            Self.appendTime(overflow.first, to: &buffer)
            Self.append(",\"last\":", to: &buffer)
            Self.appendTime(overflow.last, to: &buffer)
        }
        buffer.append(contentsOf: parts.tail)
    }

    private func append(_ decision: Decision, _ parts: DecisionParts, to buffer: inout [UInt8]) {
        Self.append("{\"type\":\"decision\",\"value\":", to: &buffer)
        JSONText.appendQuoted(decision.value, to: &buffer)
        Self.append(",\"scope\":", to: &buffer)
        JSONText.appendQuoted(decision.scope.rawValue, to: &buffer)
        buffer.append(contentsOf: parts.ruleText)
        Self.append(",\"reason\":", to: &buffer)
        JSONText.appendQuoted(decision.reason, to: &buffer)
        Self.append(",\"created\":", to: &buffer)
        Self.appendTime(decision.created, to: &buffer)
        Self.append(",\"until\":", to: &buffer)
        Self.appendTime(decision.until, to: &buffer)
        buffer.append(contentsOf: parts.durationText)
        Self.append(",\"repeat\":", to: &buffer)
        JSONText.appendDecimal(Int64(decision.repeatCount), to: &buffer)
        Self.append(",\"origin\":", to: &buffer)
        JSONText.appendQuoted(decision.origin.rawValue, to: &buffer)
        if decision.simulated {
            Self.append(",\"simulated\":true}", to: &buffer)
        } else {
            Self.append(",\"simulated\":false}", to: &buffer)
        }
    }

    private mutating func parts(for decision: Decision) -> DecisionParts? {
        let duration = decision.until - decision.created
        for parts in decisions where parts.duration == duration && parts.rule == decision.rule { return parts }
        guard decisions.count < Self.capacity else { return nil }
        var ruleText: [UInt8] = []
        Self.append(",\"rule\":", to: &ruleText)
        JSONText.appendQuoted(decision.rule, to: &ruleText)
        var durationText: [UInt8] = []
        Self.append(",\"duration\":", to: &durationText)
        JSONText.appendQuoted(RuleEngine.format(duration), to: &durationText)
        let parts = DecisionParts(rule: decision.rule, duration: duration, ruleText: ruleText, durationText: durationText)
        decisions.append(parts)
        return parts
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
        JSONText.appendTimestamp(milliseconds, to: &buffer)
        buffer.append(UInt8(ascii: "\""))
    }
}
