import CMTLineScan

extension EventLineDecoder {
    /// The fast path, for the lines mtproxy writes: no whitespace between tokens, no
    /// escape, ASCII only, known keys once each, strings and unsigned integers, no `null`,
    /// no `labels.*`. True when it decoded the line into `event`; false, with `event` in
    /// any state, for every other line, valid or not, which `decodeInFull` reads again.
    /// It never reports an error, so it holds no wording of its own to keep in step.
    mutating func decodeClean(_ line: UnsafeBufferPointer<UInt8>, into event: inout Event) -> Bool {
        guard let base = line.baseAddress else { return false }
        var end = line.count
        while end > 0, EventLineScanner.isWhitespace(base[end - 1]) { end -= 1 }
        // The closing brace is also what stops every scan below short of the line's end.
        guard end >= 2, end <= Event.maximumLineBytes, base[0] == UInt8(ascii: "{"), base[end - 1] == UInt8(ascii: "}")
        else { return false }
        EventLineScanner.empty(&event)
        var kept = fields
        var seen: UInt32 = 0
        var position = 1
        var previous = CleanKeys.lineStart
        var shape = CleanKeys.beforeAction
        while true {
            guard base[position] == UInt8(ascii: "\"") else { return false }
            let keyStart = position + 1
            // The key that followed the previous one in the last line of this action, if
            // it is there, is known by comparing its bytes; else it is looked up.
            var name = keys.predicted(after: previous, shape: shape)
            if !name.matches(base + keyStart, before: end - keyStart) {
                guard let keyEnd = Self.stringEnd(base, from: keyStart, end: end), base[keyEnd + 1] == UInt8(ascii: ":"),
                      let found = keys.named(base + keyStart, count: keyEnd - keyStart, before: end - keyStart)
                else { return false }
                name = found
                keys.predict(found.key, after: previous, shape: shape)
            }
            position = keyStart + name.count + 2
            guard seen & name.bit == 0 else { return false }
            seen |= name.bit
            previous = name.key.rawValue
            // By the kind of value, not by key: most keys share one of two ways.
            if name.kind == .integer {
                guard let value = Self.cleanInteger(base, at: &position, end: end), value >= name.minimum, value <= name.maximum
                else { return false }
                if kept.rawValue & name.field.rawValue != 0 { Self.store(value, as: name.key, into: &event) }
            } else {
                guard base[position] == UInt8(ascii: "\"") else { return false }
                let valueStart = position + 1
                switch name.kind {
                case .text, .action:
                    guard let valueEnd = Self.stringEnd(base, from: valueStart, end: end) else { return false }
                    position = valueEnd + 1
                    let count = valueEnd - valueStart
                    if name.kind == .action {
                        guard count > 0 else { return false }
                        event.action = EventLineScanner.knownAction(base + valueStart, count: count)
                            ?? EventAction(rawValue: String(decoding: UnsafeBufferPointer(start: base + valueStart, count: count), as: UTF8.self))
                        shape = CleanKeys.shape(ofAction: base + valueStart, count: count)
                        kept = fields(for: event.action, shape: shape)
                    } else if kept.rawValue & name.field.rawValue != 0 {
                        let text = UnsafeBufferPointer(start: base + valueStart, count: count)
                        // The proxy's 32 hex digits packed from the line, as `decodeInFull` packs them.
                        if name.key == .sourceIPHash, let value = IPHashValue(hexDigits: text) {
                            event.sourceIPHashValue = value
                        } else {
                            // ASCII without escapes (the scan saw to it): nothing to repair.
                            event.setText(String(decoding: text, as: UTF8.self), for: name.key)
                        }
                    }
                // The values below are read where they are expected to end, each of their
                // bytes checked by what they must be: no scan for their end.
                case .timestamp:
                    guard let (milliseconds, valueEnd) = timestamp(base, from: valueStart, end: end) else { return false }
                    event.timestampMilliseconds = milliseconds
                    position = valueEnd + 1
                case .outcome:
                    guard let (outcome, count) = Self.outcome(base + valueStart, before: end - valueStart) else { return false }
                    if kept.contains(.outcome) { event.outcome = outcome }
                    position = valueStart + count + 1
                case .transport:
                    guard let (transport, count) = Self.transport(base + valueStart, before: end - valueStart) else { return false }
                    if kept.contains(.transport) { event.transport = transport }
                    position = valueStart + count + 1
                case .integer:
                    return false
                }
            }
            if base[position] == UInt8(ascii: ",") {
                position += 1
                continue
            }
            guard base[position] == UInt8(ascii: "}"), position == end - 1 else { return false }
            break
        }
        let required = EventKey.timestamp.bit | EventKey.action.bit
        return seen & required == required
    }

    /// Where the string whose bytes start at `start` ends (its closing quote), when it holds
    /// no escape, control byte or non-ASCII byte before it.
    @inline(__always)
    private static func stringEnd(_ base: UnsafePointer<UInt8>, from start: Int, end: Int) -> Int? {
        let offset = mt_line_scan_string(base + start, end - start)
        return offset < 0 ? nil : start + offset
    }

    /// A kept integer field, in its range.
    private static func store(_ value: Int64, as key: EventKey, into event: inout Event) {
        switch key {
        case .sourcePort: event.sourcePort = Int(value)
        case .dc: event.dc = Int(value)
        case .bytesIn: event.bytesIn = UInt64(value)
        case .bytesOut: event.bytesOut = UInt64(value)
        case .duration: event.durationMilliseconds = UInt64(value)
        default: break
        }
    }

    /// The timestamp whose bytes start at `start`, and where its closing quote is: the
    /// 24 bytes of the form mtproxy writes read in place (a timestamp holds no quote, so
    /// when they are one the quote after them ends it), any other form found by a scan.
    @inline(__always)
    private mutating func timestamp(_ base: UnsafePointer<UInt8>, from start: Int, end: Int) -> (Int64, Int)? {
        if start + 24 < end, base[start + 24] == UInt8(ascii: "\""),
           let milliseconds = EventLineScanner.timestampMilliseconds(UnsafeBufferPointer(start: base + start, count: 24), lastDate: &lastDate) {
            return (milliseconds, start + 24)
        }
        guard let valueEnd = Self.stringEnd(base, from: start, end: end),
              let milliseconds = EventLineScanner.timestampMilliseconds(
                  UnsafeBufferPointer(start: base + start, count: valueEnd - start), lastDate: &lastDate)
        else { return nil }
        return (milliseconds, valueEnd)
    }

    private static func outcome(_ value: UnsafePointer<UInt8>, before available: Int) -> (EventOutcome, count: Int)? {
        if Self.value(value, before: available, is: "failure\"") { return (.failure, 7) }
        if Self.value(value, before: available, is: "success\"") { return (.success, 7) }
        return nil
    }

    private static func transport(_ value: UnsafePointer<UInt8>, before available: Int) -> (ProxyTransport, count: Int)? {
        if Self.value(value, before: available, is: "faketls\"") { return (.faketls, 7) }
        if Self.value(value, before: available, is: "secure\"") { return (.secure, 6) }
        if Self.value(value, before: available, is: "classic\"") { return (.classic, 7) }
        return nil
    }

    /// Whether the bytes at `value` are `word` (with its closing quote).
    private static func value(_ value: UnsafePointer<UInt8>, before available: Int, is word: StaticString) -> Bool {
        word.utf8CodeUnitCount < available && sameBytes(value, word.utf8Start, count: word.utf8CodeUnitCount)
    }

    /// 1 to 18 digits without a leading zero, as `decodeInFull` reads them in one pass; nil
    /// for a sign, a fraction, an exponent or more digits, which it reads otherwise. Up to
    /// seven digits with eight bytes to read are read as one word, without a loop whose
    /// end, a number's length, a predictor could not know.
    @inline(__always)
    private static func cleanInteger(_ base: UnsafePointer<UInt8>, at position: inout Int, end: Int) -> Int64? {
        let start = position
        if start + 8 <= end {
            let word = UInt64(littleEndian: UnsafeRawPointer(base + start).loadUnaligned(as: UInt64.self))
            // A byte is a digit when both its nibbles say so (ASCII: no carry between bytes).
            let notDigit = ((word & 0xF0F0_F0F0_F0F0_F0F0) ^ 0x3030_3030_3030_3030)
                | (((word &+ 0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) ^ 0x3030_3030_3030_3030)
            let digits = notDigit.trailingZeroBitCount >> 3
            if digits < 8 {
                guard digits >= 1, digits == 1 || base[start] != UInt8(ascii: "0") else { return nil }
                position = start + digits
                // The digits moved to the top bytes, zeros below them as leading zeros, then
                // added up pairwise three times.
                var value = (word & 0x0F0F_0F0F_0F0F_0F0F) << UInt64(64 - 8 * digits)
                value = (value &* 2561) >> 8 & 0x00FF_00FF_00FF_00FF
                value = (value &* 6_553_601) >> 16 & 0x0000_FFFF_0000_FFFF
                value = (value &* 42_949_672_960_001) >> 32
                return Int64(value)
            }
        }
        var cursor = start
        var value: Int64 = 0
        // No bound: the line's closing brace, not a digit, ends the run.
        while case let digit = base[cursor] &- UInt8(ascii: "0"), digit < 10 {
            value = value &* 10 &+ Int64(digit)
            cursor += 1
        }
        let digits = cursor - start
        guard digits >= 1, digits <= 18, digits == 1 || base[start] != UInt8(ascii: "0") else { return nil }
        position = cursor
        return value
    }
}

/// What the fast path knows of a key: its name as words to compare, the kind of its value,
/// the field that keeps it, its range when it is a number.
struct CleanName: Sendable {
    enum Kind: UInt8, Sendable { case text, integer, timestamp, action, outcome, transport }

    /// The name's first 8 bytes (masked to its length), its last 8, and for a name longer
    /// than 16 bytes the 8 from its ninth.
    var head: UInt64 = 0
    var headMask: UInt64 = 0
    var tail: UInt64 = 0
    var middle: UInt64 = 0
    /// The name's length; -1 for no name.
    var count = -1
    var key = EventKey.timestamp
    var kind = Kind.text
    var bit: UInt32 = 0
    var field: EventFieldSet = []
    var minimum: Int64 = 0
    var maximum: Int64 = 0

    /// Whether the key at `key`, with `available` bytes of the line from there, is this
    /// name followed by its closing quote and a colon: compared as words, so that a
    /// predicted key costs no scan.
    @inline(__always)
    func matches(_ key: UnsafePointer<UInt8>, before available: Int) -> Bool {
        // The line's closing brace follows the colon: 8 bytes can be read from `key`.
        guard count >= 0, count + 2 < available else { return false }
        let bytes = UnsafeRawPointer(key)
        let tail = count >= 8 ? bytes.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self) : 0
        let middle = count > 16 ? bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self) : 0
        return bytes.loadUnaligned(as: UInt64.self) & headMask == head && tail == self.tail && middle == self.middle
            && key[count] == UInt8(ascii: "\"") && key[count + 1] == UInt8(ascii: ":")
    }
}

/// The fast path's keys: each name with what it says of its value, and which key followed
/// which in the last line of each action, as a prediction of the next key.
struct CleanKeys: Sendable {
    private let names: [CleanName]
    /// By shape (the action's) and previous key, the next key's `names` index, or -1.
    private var next: [Int8]

    static let lineStart = EventKey.allCases.count
    static let shapes = 17
    static let beforeAction = 16

    init() {
        names = Self.names
        next = Array(repeating: -1, count: Self.shapes * (Self.lineStart + 1))
    }

    /// The shape of lines of an action: the same for the same name, perhaps the same for
    /// others (it is only a prediction).
    @inline(__always)
    static func shape(ofAction name: UnsafePointer<UInt8>, count: Int) -> Int {
        count >= 3 ? (count ^ Int(name[count - 3])) & 15 : 0
    }

    @inline(__always)
    func predicted(after previous: Int, shape: Int) -> CleanName {
        let index = Int(next[shape * (Self.lineStart + 1) + previous])
        return index < 0 ? CleanName() : names[index]
    }

    mutating func predict(_ key: EventKey, after previous: Int, shape: Int) {
        next[shape * (Self.lineStart + 1) + previous] = Int8(key.rawValue)
    }

    /// The key named by the `count` bytes at `key`, with `available` bytes of the line from
    /// there: its last four bytes and its length hash to the only name it can be, then
    /// compared as words. The multiplier was searched for one that gives the 19 names 19
    /// slots of 32 (`names` traps otherwise).
    @inline(__always)
    func named(_ key: UnsafePointer<UInt8>, count: Int, before available: Int) -> CleanName? {
        guard count >= 5, count <= 17, available >= 8 else { return nil }
        let bytes = UnsafeRawPointer(key)
        let name = names[EventKey.allCases.count + Self.slot(last: bytes.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self), count: count)]
        let head = bytes.loadUnaligned(as: UInt64.self) & name.headMask
        let tail = count >= 8 ? bytes.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self) : 0
        let middle = count > 16 ? bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self) : 0
        return name.count == count && head == name.head && tail == name.tail && middle == name.middle ? name : nil
    }

    @inline(__always)
    private static func slot(last: UInt32, count: Int) -> Int {
        Int(truncatingIfNeeded: ((UInt64(UInt32(littleEndian: last)) ^ UInt64(count)) &* 0x7496_82C8_7357_A651) >> 59)
    }

    /// The names by key, then the 32 slots of `named`.
    private static let names: [CleanName] = {
        var keys = EventKey.allCases.map(name)
        var slots = Array(repeating: CleanName(), count: 32)
        for name in keys {
            let last = name.count >= 8 ? name.tail >> 32 : name.head >> UInt64(8 * (name.count - 4))
            let slot = Self.slot(last: UInt32(truncatingIfNeeded: last), count: name.count)
            precondition(slots[slot].count < 0, "two keys in one slot of CleanKeys.names")
            slots[slot] = name
        }
        keys += slots
        return keys
    }()

    private static func name(_ key: EventKey) -> CleanName {
        let name = key.staticName
        let count = name.utf8CodeUnitCount
        func word(at offset: Int, count: Int = 8) -> UInt64 {
            (0..<count).reduce(0) { $0 | UInt64(name.utf8Start[offset + $1]) << UInt64(8 * $1) }
        }
        var entry = CleanName(
            head: word(at: 0, count: min(count, 8)), headMask: count >= 8 ? .max : (1 << UInt64(8 * count)) - 1,
            tail: count >= 8 ? word(at: count - 8) : 0, middle: count > 16 ? word(at: 8) : 0, count: count, key: key,
            bit: key.bit, field: key.keptAs)
        switch key {
        case .timestamp: entry.kind = .timestamp
        case .action: entry.kind = .action
        case .outcome: entry.kind = .outcome
        case .transport: entry.kind = .transport
        case .reason, .sourceIP, .sourceIPHash, .sourcePrefix, .sessionID, .instance, .listener, .secretName, .message:
            entry.kind = .text
        // The ranges `decodeInFull` checks; a count is unsigned and at most 18 digits.
        case .sourcePort: (entry.kind, entry.maximum) = (.integer, 65535)
        case .dc: (entry.kind, entry.maximum) = (.integer, 1000)
        case .bytesIn, .bytesOut, .duration: (entry.kind, entry.maximum) = (.integer, .max)
        case .schemaVersion: (entry.kind, entry.minimum, entry.maximum) = (.integer, 1, .max)
        }
        return entry
    }
}

extension EventKey {
    var bit: UInt32 { 1 << UInt32(rawValue) }
}
