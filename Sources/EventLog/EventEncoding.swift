extension Event {
    /// The event as one JSON line, newline included, never longer than
    /// `maximumLineBytes`. Keys come in a fixed order (`docs/EVENTS.md`); when the
    /// line would be too long, free-text values are shortened (ending in `…`), never
    /// keys or numbers.
    public func jsonLine() -> [UInt8] {
        var line: [UInt8] = []
        appendJSONLine(to: &line)
        return line
    }

    /// Appends `jsonLine()` to `buffer`, so a writer can encode a batch into one buffer.
    public func appendJSONLine(to buffer: inout [UInt8]) {
        if labels.isEmpty, PlainLine.fits(self) {
            PlainLine.write(self, to: &buffer)
            return
        }
        appendJSONLineByFields(to: &buffer)
    }

    /// The general encoder: any labels, any text length (values shortened to fit).
    func appendJSONLineByFields(to buffer: inout [UInt8]) {
        var fields = encodedFields()
        var structureBytes = EncodedField.lineOverhead(of: fields)
        // Hot path: an escape takes at most 6 bytes, so most lines need no exact count.
        let rawTextBytes = fields.reduce(0) { $0 + $1.rawTextBytes }
        if structureBytes + 6 * rawTextBytes <= Event.maximumLineBytes {
            EncodedField.write(fields, to: &buffer)
            return
        }
        var textBytes = fields.reduce(0) { $0 + $1.textBytes }
        if structureBytes + textBytes <= Event.maximumLineBytes {
            EncodedField.write(fields, to: &buffer)
            return
        }
        // Labels are the only structure a producer can grow; keep the line a line.
        while structureBytes > Event.maximumLineBytes - EncodedField.minimumTextBudget,
              let index = fields.lastIndex(where: \.isLabel) {
            fields.remove(at: index)
            structureBytes = EncodedField.lineOverhead(of: fields)
        }
        textBytes = fields.reduce(0) { $0 + $1.textBytes }
        if structureBytes + textBytes > Event.maximumLineBytes {
            EncodedField.shareTextBudget(Event.maximumLineBytes - structureBytes, among: &fields)
        }
        EncodedField.write(fields, to: &buffer)
    }

    private func encodedFields() -> [EncodedField] {
        var fields: [EncodedField] = []
        fields.reserveCapacity(20 + labels.count)
        fields.append(.timestamp(timestampMilliseconds))
        fields.append(.text(.action, action.rawValue))
        if let outcome { fields.append(.text(.outcome, outcome.rawValue)) }
        if let reason { fields.append(.text(.reason, reason)) }
        if let sourceIP { fields.append(.text(.sourceIP, sourceIP)) }
        if let sourcePort { fields.append(.signed(.sourcePort, Int64(sourcePort))) }
        if let sourceIPHash { fields.append(.text(.sourceIPHash, sourceIPHash)) }
        if let sourcePrefix { fields.append(.text(.sourcePrefix, sourcePrefix)) }
        if let sessionID { fields.append(.text(.sessionID, sessionID)) }
        if let instance { fields.append(.text(.instance, instance)) }
        if let listener { fields.append(.text(.listener, listener)) }
        if let transport { fields.append(.text(.transport, transport.rawValue)) }
        if let secretName { fields.append(.text(.secretName, secretName)) }
        if let dc { fields.append(.signed(.dc, Int64(dc))) }
        if let bytesIn { fields.append(.unsigned(.bytesIn, bytesIn)) }
        if let bytesOut { fields.append(.unsigned(.bytesOut, bytesOut)) }
        if let durationMilliseconds { fields.append(.unsigned(.duration, durationMilliseconds)) }
        if let message { fields.append(.text(.message, message)) }
        for name in labels.keys.sorted() {
            fields.append(.label(name: name, value: labels[name]!))
        }
        fields.append(.signed(.schemaVersion, Int64(Event.schemaVersion)))
        return fields
    }
}

/// The writer's hot path: an event without labels whose free text cannot overflow the line
/// even if every byte needed a six-byte escape, written field by field straight into the
/// buffer, byte for byte what `EncodedField.write` writes. It spares the field array, its
/// enum payloads and the length passes, which were most of the writer thread's work.
private enum PlainLine {
    /// `"key":` of each field, with the comma before every field but the first.
    private static func prefix(_ key: LineKey, first: Bool = false) -> [UInt8] {
        Array(((first ? "{" : ",") + "\"" + key.rawValue + "\":").utf8)
    }
    private static let timestamp = prefix(.timestamp, first: true)
    private static let action = prefix(.action)
    private static let outcome = prefix(.outcome)
    private static let reason = prefix(.reason)
    private static let sourceIP = prefix(.sourceIP)
    private static let sourcePort = prefix(.sourcePort)
    private static let sourceIPHash = prefix(.sourceIPHash)
    private static let sourcePrefix = prefix(.sourcePrefix)
    private static let sessionID = prefix(.sessionID)
    private static let instance = prefix(.instance)
    private static let listener = prefix(.listener)
    private static let transport = prefix(.transport)
    private static let secretName = prefix(.secretName)
    private static let dc = prefix(.dc)
    private static let bytesIn = prefix(.bytesIn)
    private static let bytesOut = prefix(.bytesOut)
    private static let duration = prefix(.duration)
    private static let message = prefix(.message)
    private static let schemaVersion = prefix(.schemaVersion)

    /// Every byte but the free text when all fields are present: prefixes, quotes, the
    /// timestamp, numbers at their widest (20 digits and a sign), the closing brace and newline.
    private static let structureBound: Int = {
        let prefixes = [timestamp, action, outcome, reason, sourceIP, sourcePort, sourceIPHash, sourcePrefix,
                        sessionID, instance, listener, transport, secretName, dc, bytesIn, bytesOut,
                        duration, message, schemaVersion].reduce(0) { $0 + $1.count }
        let texts = 12
        let numbers = 6
        return prefixes + 2 * texts + (2 + JSONText.timestampLength) + 21 * numbers + 2
    }()

    static func fits(_ event: Event) -> Bool {
        var text = event.action.rawValue.utf8.count
        text += event.outcome?.rawValue.utf8.count ?? 0
        text += event.reason?.utf8.count ?? 0
        text += event.sourceIP?.utf8.count ?? 0
        text += event.sourceIPHashValue?.count ?? 0
        text += event.sourcePrefix?.utf8.count ?? 0
        text += event.sessionID?.utf8.count ?? 0
        text += event.instance?.utf8.count ?? 0
        text += event.listener?.utf8.count ?? 0
        text += event.transport?.rawValue.utf8.count ?? 0
        text += event.secretName?.utf8.count ?? 0
        text += event.message?.utf8.count ?? 0
        return structureBound + 6 * text <= Event.maximumLineBytes
    }

    @inline(__always)
    private static func text(_ prefix: [UInt8], _ value: String, to buffer: inout [UInt8]) {
        buffer.append(contentsOf: prefix)
        buffer.append(UInt8(ascii: "\""))
        JSONText.appendEscaped(value, to: &buffer)
        buffer.append(UInt8(ascii: "\""))
    }

    static func write(_ event: Event, to buffer: inout [UInt8]) {
        buffer.append(contentsOf: timestamp)
        buffer.append(UInt8(ascii: "\""))
        JSONText.appendTimestamp(event.timestampMilliseconds, to: &buffer)
        buffer.append(UInt8(ascii: "\""))
        text(action, event.action.rawValue, to: &buffer)
        if let value = event.outcome { text(outcome, value.rawValue, to: &buffer) }
        if let value = event.reason { text(reason, value, to: &buffer) }
        if let value = event.sourceIP { text(sourceIP, value, to: &buffer) }
        if let value = event.sourcePort {
            buffer.append(contentsOf: sourcePort)
            JSONText.appendDecimal(Int64(value), to: &buffer)
        }
        if let value = event.sourceIPHashValue {
            buffer.append(contentsOf: sourceIPHash)
            buffer.append(UInt8(ascii: "\""))
            // Hex digits need no escaping; another producer's text does.
            if value.packedWords != nil {
                value.withUTF8 { buffer.append(contentsOf: $0) }
            } else {
                JSONText.appendEscaped(value.description, to: &buffer)
            }
            buffer.append(UInt8(ascii: "\""))
        }
        if let value = event.sourcePrefix { text(sourcePrefix, value, to: &buffer) }
        if let value = event.sessionID { text(sessionID, value, to: &buffer) }
        if let value = event.instance { text(instance, value, to: &buffer) }
        if let value = event.listener { text(listener, value, to: &buffer) }
        if let value = event.transport { text(transport, value.rawValue, to: &buffer) }
        if let value = event.secretName { text(secretName, value, to: &buffer) }
        if let value = event.dc {
            buffer.append(contentsOf: dc)
            JSONText.appendDecimal(Int64(value), to: &buffer)
        }
        if let value = event.bytesIn {
            buffer.append(contentsOf: bytesIn)
            JSONText.appendDecimal(value, to: &buffer)
        }
        if let value = event.bytesOut {
            buffer.append(contentsOf: bytesOut)
            JSONText.appendDecimal(value, to: &buffer)
        }
        if let value = event.durationMilliseconds {
            buffer.append(contentsOf: duration)
            JSONText.appendDecimal(value, to: &buffer)
        }
        if let value = event.message { text(message, value, to: &buffer) }
        buffer.append(contentsOf: schemaVersion)
        JSONText.appendDecimal(Int64(Event.schemaVersion), to: &buffer)
        buffer.append(contentsOf: [UInt8(ascii: "}"), UInt8(ascii: "\n")])
    }
}

/// The key of every fixed field, exactly as written, in line order.
private enum LineKey: String {
    case timestamp = "@timestamp"
    case action = "event.action"
    case outcome = "event.outcome"
    case reason = "event.reason"
    case sourceIP = "source.ip"
    case sourcePort = "source.port"
    case sourceIPHash = "source.ip_hash"
    case sourcePrefix = "source.prefix"
    case sessionID = "session.id"
    case instance = "proxy.instance"
    case listener = "proxy.listener"
    case transport = "proxy.transport"
    case secretName = "mt.secret"
    case dc = "mt.dc"
    case bytesIn = "network.bytes_in"
    case bytesOut = "network.bytes_out"
    case duration = "event.duration_ms"
    case message = "message"
    case schemaVersion = "schema.version"

    /// Prefix of the free-form keys in `Event.labels`.
    static let labelPrefix = "labels."
}

private struct EncodedField {
    enum Value {
        case timestamp(Int64)
        case signed(Int64)
        case unsigned(UInt64)
        /// Free text, with the escaped byte count it may use (nil: all of it).
        case text(String, budget: Int?)
    }

    enum Key {
        case fixed(LineKey)
        /// `labels.` and the name, escaped when written.
        case label(String)
    }

    var key: Key
    var value: Value
    var isLabel: Bool { if case .label = key { true } else { false } }

    /// Bytes of the key between its quotes.
    var keyBytes: Int {
        switch key {
        case .fixed(let key): key.rawValue.utf8.count
        case .label(let name): LineKey.labelPrefix.utf8.count + JSONText.escapedLength(name)
        }
    }

    static func timestamp(_ milliseconds: Int64) -> EncodedField {
        EncodedField(key: .fixed(.timestamp), value: .timestamp(milliseconds))
    }

    static func text(_ key: LineKey, _ text: String) -> EncodedField {
        EncodedField(key: .fixed(key), value: .text(text, budget: nil))
    }

    static func signed(_ key: LineKey, _ number: Int64) -> EncodedField {
        EncodedField(key: .fixed(key), value: .signed(number))
    }

    static func unsigned(_ key: LineKey, _ number: UInt64) -> EncodedField {
        EncodedField(key: .fixed(key), value: .unsigned(number))
    }

    static func label(name: String, value: String) -> EncodedField {
        EncodedField(key: .label(name), value: .text(value, budget: nil))
    }

    /// Room kept for free text when labels have to go.
    static let minimumTextBudget = 512
    private static let ellipsis: [UInt8] = Array("…".utf8)

    /// Bytes of everything but the free text: braces, commas, keys, quotes, numbers, newline.
    static func lineOverhead(of fields: [EncodedField]) -> Int {
        var total = 3 + max(0, fields.count - 1)
        for field in fields {
            total += field.keyBytes + 3
            switch field.value {
            case .timestamp: total += 2 + JSONText.timestampLength
            case .signed(let number): total += JSONText.decimalLength(number)
            case .unsigned(let number): total += JSONText.decimalLength(number)
            case .text: total += 2
            }
        }
        return total
    }

    /// UTF-8 bytes of the free text before escaping.
    var rawTextBytes: Int {
        guard case .text(let text, _) = value else { return 0 }
        return text.utf8.count
    }

    /// Escaped bytes of the free text this field will write.
    var textBytes: Int {
        guard case .text(let text, let budget) = value else { return 0 }
        return budget ?? JSONText.escapedLength(text)
    }

    /// Water-filling: short values keep all their bytes, the long ones share the rest equally.
    static func shareTextBudget(_ budget: Int, among fields: inout [EncodedField]) {
        let texts = fields.indices
            .filter { if case .text = fields[$0].value { true } else { false } }
            .sorted { fields[$0].textBytes < fields[$1].textBytes }
        var remaining = max(0, budget)
        for (position, index) in texts.enumerated() {
            guard case .text(let text, _) = fields[index].value else { continue }
            let share = remaining / (texts.count - position)
            let needed = fields[index].textBytes
            let granted = min(needed, share)
            remaining -= granted
            if granted < needed {
                fields[index].value = .text(text, budget: granted)
            }
        }
    }

    static func write(_ fields: [EncodedField], to buffer: inout [UInt8]) {
        buffer.append(UInt8(ascii: "{"))
        for (position, field) in fields.enumerated() {
            if position > 0 { buffer.append(UInt8(ascii: ",")) }
            buffer.append(UInt8(ascii: "\""))
            switch field.key {
            case .fixed(let key):
                buffer.append(contentsOf: key.rawValue.utf8)
            case .label(let name):
                buffer.append(contentsOf: LineKey.labelPrefix.utf8)
                JSONText.appendEscaped(name, to: &buffer)
            }
            buffer.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
            switch field.value {
            case .timestamp(let milliseconds):
                buffer.append(UInt8(ascii: "\""))
                JSONText.appendTimestamp(milliseconds, to: &buffer)
                buffer.append(UInt8(ascii: "\""))
            case .signed(let number):
                JSONText.appendDecimal(number, to: &buffer)
            case .unsigned(let number):
                JSONText.appendDecimal(number, to: &buffer)
            case .text(let text, let budget):
                buffer.append(UInt8(ascii: "\""))
                if let budget {
                    if budget >= ellipsis.count {
                        JSONText.appendEscaped(text, limit: budget - ellipsis.count, to: &buffer)
                        buffer.append(contentsOf: ellipsis)
                    } else {
                        JSONText.appendEscaped(text, limit: budget, to: &buffer)
                    }
                } else {
                    JSONText.appendEscaped(text, to: &buffer)
                }
                buffer.append(UInt8(ascii: "\""))
            }
        }
        buffer.append(contentsOf: [UInt8(ascii: "}"), UInt8(ascii: "\n")])
    }
}

extension Event {
    /// RFC 3339 UTC with milliseconds, exactly as `@timestamp` is written (years clamped
    /// to 0000…9999): the one formatter every program uses for event time.
    public static func timestampText(milliseconds: Int64) -> String {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(JSONText.timestampLength)
        JSONText.appendTimestamp(milliseconds, to: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    /// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
    /// `days_from_civil`): the one day count every RFC 3339 reader uses.
    public static func daysSinceEpoch(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}

/// JSON text primitives for the event line (RFC 8259 strings, RFC 3339 timestamps).
public enum JSONText {
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Bytes `byte` takes inside a JSON string.
    @inline(__always)
    private static func escapedWidth(_ byte: UInt8) -> Int {
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), 0x08, 0x09, 0x0A, 0x0C, 0x0D: 2
        case 0x00..<0x20, 0x7F: 6
        default: 1
        }
    }

    @inline(__always)
    private static func needsEscaping(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte == 0x7F
    }

    /// Whether any byte needs escaping, eight at a time (a quote, a backslash, a control
    /// byte or DEL); bytes ≥ 0x80 pass.
    @inline(__always)
    private static func containsEscapable(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return false }
        let lanes: UInt64 = 0x0101_0101_0101_0101, high: UInt64 = 0x8080_8080_8080_8080
        @inline(__always) func zero(_ word: UInt64) -> UInt64 { (word &- lanes) & ~word & high }
        var offset = 0
        while offset + 8 <= bytes.count {
            let word = UnsafeRawPointer(base + offset).loadUnaligned(as: UInt64.self)
            // A byte < 0x20 (borrow), or equal to '"', '\\' or DEL; high bytes are masked out.
            let special = zero(word ^ (lanes &* 0x22)) | zero(word ^ (lanes &* 0x5C)) | zero(word ^ (lanes &* 0x7F))
                | ((word &- lanes &* 0x20) & ~word)
            if special & high & ~word != 0 { return true }
            offset += 8
        }
        while offset < bytes.count {
            if needsEscaping(base[offset]) { return true }
            offset += 1
        }
        return false
    }

    static func escapedLength(_ text: String) -> Int {
        var text = text
        return text.withUTF8 { bytes in
            var total = 0
            for byte in bytes { total += escapedWidth(byte) }
            return total
        }
    }

    static func appendEscaped(_ text: String, to buffer: inout [UInt8]) {
        appendEscaped(text, limit: Int.max, to: &buffer)
    }

    /// Appends `text` as a quoted JSON string, escaped as the event log escapes it; for
    /// other JSON Lines output (timelines, reports) so there is one escaping rule.
    public static func appendQuoted(_ text: String, to buffer: inout [UInt8]) {
        // Hot path (replay writes a few per alert): a short text needing no escape is
        // quoted on the stack and appended at once.
        let done = text.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            guard bytes.count <= 254, !containsEscapable(bytes) else { return false }
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: bytes.count + 2) { quoted in
                quoted[0] = UInt8(ascii: "\"")
                _ = UnsafeMutableBufferPointer(rebasing: quoted[1...]).initialize(from: bytes)
                quoted[bytes.count + 1] = UInt8(ascii: "\"")
                buffer.append(contentsOf: UnsafeBufferPointer(quoted))
            }
            return true
        }
        if done == true { return }
        buffer.append(UInt8(ascii: "\""))
        appendEscaped(text, to: &buffer)
        buffer.append(UInt8(ascii: "\""))
    }

    /// Escapes `text` into `buffer`, stopping before the first character whose escaped
    /// bytes would pass `limit`, so a cut never splits a character or an escape.
    /// Swift strings are valid UTF-8 by construction (bad input was already replaced
    /// by U+FFFD when the string was made), so bytes ≥ 0x80 pass through unchanged.
    static func appendEscaped(_ text: String, limit: Int, to buffer: inout [UInt8]) {
        var text = text
        text.withUTF8 { bytes in
            // Hot path: most values need no escaping and fit, so they are copied whole.
            if bytes.count <= limit, !bytes.contains(where: needsEscaping) {
                buffer.append(contentsOf: bytes)
                return
            }
            var used = 0
            var index = 0
            while index < bytes.count {
                let byte = bytes[index]
                if byte < 0x80 {
                    let width = escapedWidth(byte)
                    guard used + width <= limit else { return }
                    appendEscapedASCII(byte, to: &buffer)
                    used += width
                    index += 1
                } else {
                    let width = scalarLength(leadingByte: byte)
                    let end = min(index + width, bytes.count)
                    guard used + (end - index) <= limit else { return }
                    buffer.append(contentsOf: bytes[index..<end])
                    used += end - index
                    index = end
                }
            }
        }
    }

    @inline(__always)
    private static func appendEscapedASCII(_ byte: UInt8, to buffer: inout [UInt8]) {
        switch byte {
        case UInt8(ascii: "\""): buffer.append(contentsOf: [0x5C, UInt8(ascii: "\"")])
        case UInt8(ascii: "\\"): buffer.append(contentsOf: [0x5C, 0x5C])
        case 0x08: buffer.append(contentsOf: [0x5C, UInt8(ascii: "b")])
        case 0x09: buffer.append(contentsOf: [0x5C, UInt8(ascii: "t")])
        case 0x0A: buffer.append(contentsOf: [0x5C, UInt8(ascii: "n")])
        case 0x0C: buffer.append(contentsOf: [0x5C, UInt8(ascii: "f")])
        case 0x0D: buffer.append(contentsOf: [0x5C, UInt8(ascii: "r")])
        case 0x00..<0x20, 0x7F:
            buffer.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                       hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0x0F)]])
        default: buffer.append(byte)
        }
    }

    private static func scalarLength(leadingByte byte: UInt8) -> Int {
        switch byte {
        case 0xF0...: 4
        case 0xE0...: 3
        case 0xC0...: 2
        default: 1
        }
    }

    static func decimalLength(_ number: Int64) -> Int {
        number < 0 ? 1 + decimalLength(number.magnitude) : decimalLength(UInt64(number))
    }

    static func decimalLength(_ number: UInt64) -> Int {
        var length = 1
        var rest = number / 10
        while rest > 0 { length += 1; rest /= 10 }
        return length
    }

    public static func appendDecimal(_ number: Int64, to buffer: inout [UInt8]) {
        appendDecimal(number.magnitude, negative: number < 0, to: &buffer)
    }

    static func appendDecimal(_ number: UInt64, to buffer: inout [UInt8]) {
        appendDecimal(number, negative: false, to: &buffer)
    }

    /// Spelled backwards on the stack, then appended at once: every event's counts and
    /// every alert line's pass here, and byte-by-byte appends each check the array.
    private static func appendDecimal(_ magnitude: UInt64, negative: Bool, to buffer: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 21) { digits in
            var rest = magnitude
            var start = 21
            repeat {
                start -= 1
                digits[start] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            } while rest > 0
            if negative {
                start -= 1
                digits[start] = UInt8(ascii: "-")
            }
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: digits[start...]))
        }
    }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ`
    static let timestampLength = 24
    /// Years 0000…9999: what RFC 3339 can write.
    private static let earliestMilliseconds: Int64 = -62_167_219_200_000
    private static let latestMilliseconds: Int64 = 253_402_300_799_999

    public static func appendTimestamp(_ milliseconds: Int64, to buffer: inout [UInt8]) {
        let clamped = min(max(milliseconds, earliestMilliseconds), latestMilliseconds)
        let (days, millisecondOfDay) = floorDivision(clamped, 86_400_000)
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        let secondOfDay = millisecondOfDay / 1000
        // The 24 bytes are spelled on the stack and appended at once: every event and
        // every alert line carries timestamps, and byte-by-byte appends were most of it.
        var text: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &text) { out in
            @inline(__always) func two(_ value: Int64, at offset: Int) {
                out[offset] = UInt8(truncatingIfNeeded: value / 10) &+ UInt8(ascii: "0")
                out[offset + 1] = UInt8(truncatingIfNeeded: value % 10) &+ UInt8(ascii: "0")
            }
            two(year / 100, at: 0)
            two(year % 100, at: 2)
            out[4] = UInt8(ascii: "-")
            two(month, at: 5)
            out[7] = UInt8(ascii: "-")
            two(day, at: 8)
            out[10] = UInt8(ascii: "T")
            two(secondOfDay / 3600, at: 11)
            out[13] = UInt8(ascii: ":")
            two(secondOfDay / 60 % 60, at: 14)
            out[16] = UInt8(ascii: ":")
            two(secondOfDay % 60, at: 17)
            out[19] = UInt8(ascii: ".")
            let millisecond = millisecondOfDay % 1000
            out[20] = UInt8(truncatingIfNeeded: millisecond / 100) &+ UInt8(ascii: "0")
            two(millisecond % 100, at: 21)
            out[23] = UInt8(ascii: "Z")
            buffer.append(contentsOf: UnsafeBufferPointer(start: out.baseAddress!.assumingMemoryBound(to: UInt8.self),
                                                          count: timestampLength))
        }
    }

    private static func floorDivision(_ value: Int64, _ divisor: Int64) -> (quotient: Int64, remainder: Int64) {
        let quotient = value / divisor
        let remainder = value % divisor
        return remainder < 0 ? (quotient - 1, remainder + divisor) : (quotient, remainder)
    }

    /// Howard Hinnant's `civil_from_days`: proleptic Gregorian date of a day count.
    private static func civilDate(daysSinceEpoch: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day)
    }
}
