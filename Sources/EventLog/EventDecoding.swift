/// Why one line of the event log could not become an `Event`, and where.
public struct EventDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The file the line came from, when the reader knows it (`-` for standard input).
    public var file: String?
    /// 1-based line number in its file, 0 when the caller did not say.
    public var line: Int
    /// The key whose value was wrong, `nil` when the line is not a JSON object at all.
    public var field: String?
    public var message: String

    public init(file: String? = nil, line: Int, field: String?, message: String) {
        self.file = file
        self.line = line
        self.field = field
        self.message = message
    }

    /// `file:line: field: message`, the form editors and CI annotate.
    public var description: String {
        var text = file.map { "\($0):\(line): " } ?? "line \(line): "
        if let field { text += "\(field): " }
        return text + message
    }
}

extension Event {
    /// Decodes one JSON line of the event log (without or with its trailing newline).
    ///
    /// Unknown keys are skipped so that an older auditor reads a newer producer's log;
    /// `null` counts as absent. `@timestamp` and `event.action` are required.
    public init(jsonLine line: UnsafeBufferPointer<UInt8>, lineNumber: Int = 0) throws(EventDecodingError) {
        var decoder = EventLineDecoder()
        self = try decoder.decode(line, lineNumber: lineNumber)
    }

    /// Decodes one line keeping only `fields` (with `@timestamp` and `event.action`):
    /// every other field is checked exactly as `init(jsonLine:lineNumber:)` checks it, so
    /// the same lines are accepted and rejected, but no `String` is made for it. For a
    /// reader that knows what its rules look at, such as `mtauditor replay`.
    public init(jsonLine line: UnsafeBufferPointer<UInt8>, lineNumber: Int = 0, keeping fields: EventFieldSet) throws(EventDecodingError) {
        var decoder = EventLineDecoder(keeping: fields)
        self = try decoder.decode(line, lineNumber: lineNumber)
    }

    public init(jsonLine line: some StringProtocol, lineNumber: Int = 0) throws(EventDecodingError) {
        var text = String(line)
        let result = text.withUTF8 { bytes -> Result<Event, EventDecodingError> in
            do throws(EventDecodingError) {
                return .success(try Event(jsonLine: bytes, lineNumber: lineNumber))
            } catch {
                return .failure(error)
            }
        }
        self = try result.get()
    }

    public init(jsonLine line: [UInt8], lineNumber: Int = 0) throws(EventDecodingError) {
        let result = line.withUnsafeBufferPointer { bytes -> Result<Event, EventDecodingError> in
            do throws(EventDecodingError) {
                return .success(try Event(jsonLine: bytes, lineNumber: lineNumber))
            } catch {
                return .failure(error)
            }
        }
        self = try result.get()
    }
}

/// Decodes the lines of one log one after another, for a reader such as `mtauditor replay`:
/// it keeps `fields` (as `Event(jsonLine:lineNumber:keeping:)` does, accepting and rejecting
/// the same lines) and remembers the date of the last timestamp, which nearly every next
/// line repeats.
public struct EventLineDecoder: Sendable {
    public var fields: EventFieldSet
    /// Fewer fields to keep for the lines of some actions (those of the vocabulary): a
    /// reader whose rules read, say, nothing of a `session.closed` line sets it so, and
    /// the fast path then makes no `String` for that line's values. Lines the fast path
    /// does not take, and fields that come before `event.action`, keep `fields`.
    public var fieldsByAction: [EventAction: EventFieldSet] = [:] {
        didSet { actionFields = fieldsByAction.map { ActionFields(action: $0.key, fields: $0.value) } }
    }
    /// `fieldsByAction`, searched by the action string's storage: the decoder gives the
    /// vocabulary's constants, so the same two words come again for each action.
    private var actionFields: [ActionFields] = [] { didSet { lastActionFields = Array(repeating: nil, count: CleanKeys.shapes) } }
    /// The entry found last for each shape of action line (`CleanKeys.shape`): found in one
    /// compare, not by searching the list.
    private var lastActionFields: [ActionFields?] = Array(repeating: nil, count: CleanKeys.shapes)
    var lastDate = TimestampDate()
    /// The fast path's keys, and its predictions of the next key.
    var keys = CleanKeys()

    public init(keeping fields: EventFieldSet = .all) {
        self.fields = fields
    }

    private struct ActionFields: Sendable {
        let action: EventAction
        let fields: EventFieldSet
    }

    /// The fields to keep for the rest of a line of `action`, whose shape is `shape`.
    @inline(__always)
    mutating func fields(for action: EventAction, shape: Int) -> EventFieldSet {
        if actionFields.isEmpty { return fields }
        let bits = unsafeBitCast(action.rawValue, to: (UInt64, UInt64).self)
        if let last = lastActionFields[shape], Self.sameStorage(last.action, bits) { return last.fields.intersection(fields) }
        for entry in actionFields where Self.sameStorage(entry.action, bits) {
            lastActionFields[shape] = entry
            return entry.fields.intersection(fields)
        }
        return fields
    }

    @inline(__always)
    private static func sameStorage(_ action: EventAction, _ bits: (UInt64, UInt64)) -> Bool {
        let known = unsafeBitCast(action.rawValue, to: (UInt64, UInt64).self)
        return known.0 == bits.0 && known.1 == bits.1
    }

    public mutating func decode(_ line: UnsafeBufferPointer<UInt8>, lineNumber: Int = 0) throws(EventDecodingError) -> Event {
        var event = Event(timestampMilliseconds: 0, action: "")
        try decode(line, lineNumber: lineNumber, into: &event)
        return event
    }

    /// Decodes into `event`, every field of which is replaced; after an error its content
    /// is unspecified. A reader that reuses one `Event` moves no event around per line.
    public mutating func decode(
        _ line: UnsafeBufferPointer<UInt8>, lineNumber: Int = 0, into event: inout Event
    ) throws(EventDecodingError) {
        // The lines mtproxy writes take the fast path; whatever it does not fully handle,
        // valid or not, is read again from its start by the general scanner, which alone
        // words the errors: both accept the same lines with the same events by construction.
        if decodeClean(line, into: &event) { return }
        try decodeInFull(line, lineNumber: lineNumber, into: &event)
    }

    /// The general scanner alone: any line, every error. `decode` without its fast path.
    mutating func decodeInFull(
        _ line: UnsafeBufferPointer<UInt8>, lineNumber: Int, into event: inout Event
    ) throws(EventDecodingError) {
        var scanner = EventLineScanner(bytes: line, lineNumber: lineNumber)
        scanner.kept = fields
        scanner.lastDate = lastDate
        defer { lastDate = scanner.lastDate }
        try scanner.decodeEvent(into: &event)
    }
}

/// The `YYYY-MM-DD` of a timestamp already checked, as its ten bytes, and its day number.
struct TimestampDate: Sendable {
    var head: UInt64 = 0
    var tail: UInt16 = 0
    var daysSinceEpoch: Int64 = 0
    var isSet = false
}

/// The optional fields of an `Event` a reader keeps (`Event(jsonLine:lineNumber:keeping:)`).
public struct EventFieldSet: OptionSet, Sendable, Hashable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }

    public static let outcome = Self(rawValue: 1 << 0)
    public static let reason = Self(rawValue: 1 << 1)
    public static let sourceIP = Self(rawValue: 1 << 2)
    public static let sourcePort = Self(rawValue: 1 << 3)
    public static let sourceIPHash = Self(rawValue: 1 << 4)
    public static let sourcePrefix = Self(rawValue: 1 << 5)
    public static let sessionID = Self(rawValue: 1 << 6)
    public static let instance = Self(rawValue: 1 << 7)
    public static let listener = Self(rawValue: 1 << 8)
    public static let transport = Self(rawValue: 1 << 9)
    public static let secretName = Self(rawValue: 1 << 10)
    public static let dc = Self(rawValue: 1 << 11)
    public static let bytesIn = Self(rawValue: 1 << 12)
    public static let bytesOut = Self(rawValue: 1 << 13)
    public static let duration = Self(rawValue: 1 << 14)
    public static let message = Self(rawValue: 1 << 15)
    public static let labels = Self(rawValue: 1 << 16)
    public static let all = Self(rawValue: (1 << 17) - 1)
}

/// The keys the schema knows; everything else is skipped (or kept, for `labels.*`).
enum EventKey: Int, CaseIterable {
    case timestamp, action, outcome, reason, sourceIP, sourcePort, sourceIPHash, sourcePrefix
    case sessionID, instance, listener, transport, secretName, dc, bytesIn, bytesOut, duration
    case message, schemaVersion

    var name: String { staticName.description }

    /// The name as static bytes, for matching without touching a reference count.
    var staticName: StaticString {
        switch self {
        case .timestamp: "@timestamp"
        case .action: "event.action"
        case .outcome: "event.outcome"
        case .reason: "event.reason"
        case .sourceIP: "source.ip"
        case .sourcePort: "source.port"
        case .sourceIPHash: "source.ip_hash"
        case .sourcePrefix: "source.prefix"
        case .sessionID: "session.id"
        case .instance: "proxy.instance"
        case .listener: "proxy.listener"
        case .transport: "proxy.transport"
        case .secretName: "mt.secret"
        case .dc: "mt.dc"
        case .bytesIn: "network.bytes_in"
        case .bytesOut: "network.bytes_out"
        case .duration: "event.duration_ms"
        case .message: "message"
        case .schemaVersion: "schema.version"
        }
    }

    /// The bytes `guess` may read: the longest name and its closing quote.
    static let guessedBytes = 18

    /// The key whose name, followed by its closing quote, starts at `key` (which has at
    /// least `guessedBytes` bytes). A decision on a byte or two names the only candidate,
    /// so that a key is matched without first scanning for its end; nil leaves the key to
    /// the general path.
    static func guess(_ key: UnsafePointer<UInt8>) -> (EventKey, count: Int)? {
        @inline(__always) func check(_ candidate: EventKey, _ name: StaticString) -> (EventKey, count: Int)? {
            let count = name.utf8CodeUnitCount
            return key[count] == UInt8(ascii: "\"") && sameBytes(key, name.utf8Start, count: count) ? (candidate, count) : nil
        }
        switch key[0] {
        case UInt8(ascii: "@"): return check(.timestamp, "@timestamp")
        case UInt8(ascii: "e"):
            switch key[6] {
            case UInt8(ascii: "a"): return check(.action, "event.action")
            case UInt8(ascii: "o"): return check(.outcome, "event.outcome")
            case UInt8(ascii: "r"): return check(.reason, "event.reason")
            default: return check(.duration, "event.duration_ms")
            }
        case UInt8(ascii: "s"):
            switch (key[1], key[7]) {
            case (UInt8(ascii: "c"), _): return check(.schemaVersion, "schema.version")
            case (UInt8(ascii: "e"), _): return check(.sessionID, "session.id")
            case (_, UInt8(ascii: "i")):
                return key[9] == UInt8(ascii: "_") ? check(.sourceIPHash, "source.ip_hash") : check(.sourceIP, "source.ip")
            default:
                return key[8] == UInt8(ascii: "o") ? check(.sourcePort, "source.port") : check(.sourcePrefix, "source.prefix")
            }
        case UInt8(ascii: "p"):
            switch key[6] {
            case UInt8(ascii: "i"): return check(.instance, "proxy.instance")
            case UInt8(ascii: "l"): return check(.listener, "proxy.listener")
            default: return check(.transport, "proxy.transport")
            }
        case UInt8(ascii: "m"):
            switch (key[1], key[3]) {
            case (UInt8(ascii: "e"), _): return check(.message, "message")
            case (_, UInt8(ascii: "s")): return check(.secretName, "mt.secret")
            default: return check(.dc, "mt.dc")
            }
        case UInt8(ascii: "n"):
            return key[14] == UInt8(ascii: "i") ? check(.bytesIn, "network.bytes_in") : check(.bytesOut, "network.bytes_out")
        default:
            return nil
        }
    }

    /// The key whose name is exactly these bytes, for a key `guess` did not name: the
    /// length and one or two bytes pick the only candidate, then a few word compares.
    static func named(_ key: UnsafePointer<UInt8>, count: Int) -> EventKey? {
        let candidate: EventKey
        switch count {
        case 5: candidate = .dc
        case 7: candidate = .message
        case 9: candidate = key[0] == UInt8(ascii: "s") ? .sourceIP : .secretName
        case 10: candidate = key[0] == UInt8(ascii: "@") ? .timestamp : .sessionID
        case 11: candidate = .sourcePort
        case 12: candidate = key[6] == UInt8(ascii: "a") ? .action : .reason
        case 13: candidate = key[0] == UInt8(ascii: "e") ? .outcome : .sourcePrefix
        case 14:
            switch key[1] {
            case UInt8(ascii: "o"): candidate = .sourceIPHash
            case UInt8(ascii: "c"): candidate = .schemaVersion
            default: candidate = key[6] == UInt8(ascii: "i") ? .instance : .listener
            }
        case 15: candidate = .transport
        case 16: candidate = .bytesIn
        case 17: candidate = key[0] == UInt8(ascii: "n") ? .bytesOut : .duration
        default: return nil
        }
        return sameBytes(key, candidate.staticName.utf8Start, count: count) ? candidate : nil
    }

    static let labelPrefix: [UInt8] = Array("labels.".utf8)

    /// The field that keeps this key's value (none for the timestamp, the action and the
    /// schema version, which are always read).
    var keptAs: EventFieldSet {
        switch self {
        case .timestamp, .action, .schemaVersion: []
        case .outcome: .outcome
        case .reason: .reason
        case .sourceIP: .sourceIP
        case .sourcePort: .sourcePort
        case .sourceIPHash: .sourceIPHash
        case .sourcePrefix: .sourcePrefix
        case .sessionID: .sessionID
        case .instance: .instance
        case .listener: .listener
        case .transport: .transport
        case .secretName: .secretName
        case .dc: .dc
        case .bytesIn: .bytesIn
        case .bytesOut: .bytesOut
        case .duration: .duration
        case .message: .message
        }
    }
}

extension Event {
    /// Sets the string field named by `key`: the one place where both ways of decoding a
    /// line (`EventLineDecoder.decodeClean` and `decodeInFull`) set a field's text.
    mutating func setText(_ text: String?, for key: EventKey) {
        switch key {
        case .reason: reason = text
        case .sourceIP: sourceIP = text
        case .sourceIPHash: sourceIPHash = text
        case .sourcePrefix: sourcePrefix = text
        case .sessionID: sessionID = text
        case .instance: instance = text
        case .listener: listener = text
        case .secretName: secretName = text
        case .message: message = text
        case .timestamp, .action, .outcome, .sourcePort, .transport, .dc, .bytesIn, .bytesOut, .duration, .schemaVersion:
            preconditionFailure("\(key.name) is not a string field")
        }
    }
}

/// A single forward pass over the bytes of one line: no intermediate JSON tree, no
/// Foundation, one `String` allocated per kept value. This is the auditor's hot path.
struct EventLineScanner {
    var bytes: UnsafeBufferPointer<UInt8>
    let lineNumber: Int
    var index = 0
    var kept: EventFieldSet = .all
    var lastDate = TimestampDate()

    init(bytes: UnsafeBufferPointer<UInt8>, lineNumber: Int) {
        self.bytes = bytes
        self.lineNumber = lineNumber
    }

    private static let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\")
    private static let maximumNesting = 64

    func failure(_ field: String?, _ message: String) -> EventDecodingError {
        EventDecodingError(line: lineNumber, field: field, message: message)
    }

    mutating func decodeEvent(into event: inout Event) throws(EventDecodingError) {
        var end = bytes.count
        while end > 0, Self.isWhitespace(bytes[end - 1]) { end -= 1 }
        guard end > 0 else { throw failure(nil, "empty line") }
        guard end <= Event.maximumLineBytes else {
            throw failure(nil, "line of \(end) bytes is over the \(Event.maximumLineBytes)-byte limit")
        }
        bytes = UnsafeBufferPointer(rebasing: bytes[..<end])
        Self.empty(&event)
        var sawTimestamp = false, sawAction = false

        skipWhitespace()
        guard index < end, bytes[index] == UInt8(ascii: "{") else {
            throw failure(nil, "not a JSON object (expected '{' at column \(index + 1))")
        }
        index += 1
        skipWhitespace()
        if index < end, bytes[index] == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                skipWhitespace()
                guard index < end, bytes[index] == Self.quote else {
                    throw failure(nil, "expected a quoted key at column \(index + 1)")
                }
                let key = try scanKey()
                skipWhitespace()
                guard index < end, bytes[index] == UInt8(ascii: ":") else {
                    throw failure(key.text, "expected ':' after the key at column \(index + 1)")
                }
                index += 1
                skipWhitespace()
                guard index < end else { throw failure(key.text, "line ends before the value") }
                try decodeValue(for: key, into: &event, sawTimestamp: &sawTimestamp, sawAction: &sawAction)
                skipWhitespace()
                guard index < end else { throw failure(nil, "line ends inside the object (missing '}')") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                guard bytes[index] == UInt8(ascii: "}") else {
                    throw failure(key.text, "expected ',' or '}' after the value at column \(index + 1)")
                }
                index += 1
                break
            }
        }
        skipWhitespace()
        guard index == end else { throw failure(nil, "unexpected text after the object at column \(index + 1)") }
        guard sawTimestamp else { throw failure(EventKey.timestamp.name, "missing") }
        guard sawAction else { throw failure(EventKey.action.name, "missing") }
    }

    // MARK: Keys

    private enum ScannedKey {
        case known(EventKey)
        case label(String)
        case unknown(String)

        var text: String {
            switch self {
            case .known(let key): key.name
            case .label(let name): "labels.\(name)"
            case .unknown(let name): name
            }
        }
    }

    private mutating func scanKey() throws(EventDecodingError) -> ScannedKey {
        let start = index + 1
        if start + EventKey.guessedBytes <= bytes.count, let (key, count) = EventKey.guess(bytes.baseAddress! + start) {
            index = start + count + 1
            return .known(key)
        }
        if let plain = plainString(from: start) {
            index = plain.end + 1
            if let known = EventKey.named(bytes.baseAddress! + start, count: plain.end - start) { return .known(known) }
            return classify(try makeString(UnsafeBufferPointer(rebasing: bytes[start..<plain.end]), ascii: plain.ascii, field: nil))
        }
        let text = try scanEscapedString(field: nil)
        if let known = EventKey.allCases.first(where: { $0.name == text }) { return .known(known) }
        return classify(text)
    }

    private func classify(_ text: String) -> ScannedKey {
        if text.utf8.starts(with: EventKey.labelPrefix), text.utf8.count > EventKey.labelPrefix.count {
            return .label(String(text.dropFirst(EventKey.labelPrefix.count)))
        }
        return .unknown(text)
    }

    // MARK: Values

    private mutating func decodeValue(
        for key: ScannedKey, into event: inout Event, sawTimestamp: inout Bool, sawAction: inout Bool
    ) throws(EventDecodingError) {
        let field: EventKey
        switch key {
        case .unknown:
            try skipValue(field: key.text)
            return
        case .label(let name):
            if let text = try scanScalarAsText(field: key.text), kept.contains(.labels) { event.labels[name] = text }
            return
        case .known(let known):
            field = known
        }
        if scanNull() {
            switch field {
            case .timestamp, .action: throw failure(field.name, "must not be null")
            default: clear(field, in: &event)
            }
            return
        }
        switch field {
        case .timestamp:
            let (start, end) = try scanPlainStringBounds(field: field)
            event.timestampMilliseconds = try parseTimestamp(UnsafeBufferPointer(rebasing: bytes[start..<end]))
            sawTimestamp = true
        case .action:
            event.action = try scanAction()
            sawAction = true
        case .outcome:
            if let word = plainValue(), let outcome = outcome(word) {
                index = word.end + 1
                if kept.contains(.outcome) { event.outcome = outcome }
                return
            }
            let text = try scanString(field: field)
            guard let outcome = EventOutcome(rawValue: text) else {
                throw failure(field.name, "\"\(Self.printable(text))\" is not one of success, failure")
            }
            if kept.contains(.outcome) { event.outcome = outcome }
        case .transport:
            if let word = plainValue(), let transport = transport(word) {
                index = word.end + 1
                if kept.contains(.transport) { event.transport = transport }
                return
            }
            let text = try scanString(field: field)
            guard let transport = ProxyTransport(rawValue: text) else {
                throw failure(field.name, "\"\(Self.printable(text))\" is not one of classic, secure, faketls")
            }
            if kept.contains(.transport) { event.transport = transport }
        case .sourceIPHash:
            // The proxy's 32 hex digits are packed straight from the line: no String.
            if kept.contains(.sourceIPHash), let word = plainValue(), word.end - word.start == IPHashValue.digitCount,
               let value = IPHashValue(hexDigits: UnsafeBufferPointer(rebasing: bytes[word.start..<word.end])) {
                index = word.end + 1
                event.sourceIPHashValue = value
                return
            }
            event.setText(try scanString(field: field, keep: .sourceIPHash), for: field)
        case .reason, .sourceIP, .sourcePrefix, .sessionID, .instance, .listener, .secretName, .message:
            event.setText(try scanString(field: field, keep: field.keptAs), for: field)
        case .sourcePort:
            let port = try scanInteger(field: field)
            guard (0...65535).contains(port) else { throw failure(field.name, "\(port) is not a port (0...65535)") }
            if kept.contains(.sourcePort) { event.sourcePort = Int(port) }
        case .dc:
            let dc = try scanInteger(field: field)
            guard (-1000...1000).contains(dc) else { throw failure(field.name, "\(dc) is not a DC index") }
            if kept.contains(.dc) { event.dc = Int(dc) }
        case .bytesIn:
            let count = try scanCount(field: field)
            if kept.contains(.bytesIn) { event.bytesIn = count }
        case .bytesOut:
            let count = try scanCount(field: field)
            if kept.contains(.bytesOut) { event.bytesOut = count }
        case .duration:
            let count = try scanCount(field: field)
            if kept.contains(.duration) { event.durationMilliseconds = count }
        case .schemaVersion:
            let version = try scanInteger(field: field)
            guard version >= 1 else { throw failure(field.name, "\(version) is not a schema version") }
        }
    }

    /// Empties the optional fields of `event` for the next line (timestamp and action are
    /// always replaced), writing only those that hold something: a reused event then costs
    /// no release and no copy for the many fields a line leaves out.
    static func empty(_ event: inout Event) {
        if event.outcome != nil { event.outcome = nil }
        if event.reason != nil { event.reason = nil }
        if event.sourceIP != nil { event.sourceIP = nil }
        if event.sourcePort != nil { event.sourcePort = nil }
        if event.sourceIPHashValue != nil { event.sourceIPHashValue = nil }
        if event.sourcePrefix != nil { event.sourcePrefix = nil }
        if event.sessionID != nil { event.sessionID = nil }
        if event.instance != nil { event.instance = nil }
        if event.listener != nil { event.listener = nil }
        if event.transport != nil { event.transport = nil }
        if event.secretName != nil { event.secretName = nil }
        if event.dc != nil { event.dc = nil }
        if event.bytesIn != nil { event.bytesIn = nil }
        if event.bytesOut != nil { event.bytesOut = nil }
        if event.durationMilliseconds != nil { event.durationMilliseconds = nil }
        if event.message != nil { event.message = nil }
        if !event.labels.isEmpty { event.labels = [:] }
    }

    private func clear(_ field: EventKey, in event: inout Event) {
        switch field {
        case .timestamp, .action, .schemaVersion: break
        case .outcome: event.outcome = nil
        case .reason: event.reason = nil
        case .sourceIP: event.sourceIP = nil
        case .sourcePort: event.sourcePort = nil
        case .sourceIPHash: event.sourceIPHashValue = nil
        case .sourcePrefix: event.sourcePrefix = nil
        case .sessionID: event.sessionID = nil
        case .instance: event.instance = nil
        case .listener: event.listener = nil
        case .transport: event.transport = nil
        case .secretName: event.secretName = nil
        case .dc: event.dc = nil
        case .bytesIn: event.bytesIn = nil
        case .bytesOut: event.bytesOut = nil
        case .duration: event.durationMilliseconds = nil
        case .message: event.message = nil
        }
    }

    private mutating func scanNull() -> Bool {
        guard index + 4 <= bytes.count, bytes[index] == UInt8(ascii: "n"), bytes[index + 1] == UInt8(ascii: "u"),
              bytes[index + 2] == UInt8(ascii: "l"), bytes[index + 3] == UInt8(ascii: "l") else { return false }
        index += 4
        return true
    }

    /// A string field, checked in full; made into a `String` only when `keep` is kept.
    private mutating func scanString(field: EventKey, keep: EventFieldSet) throws(EventDecodingError) -> String? {
        if kept.contains(keep) { return try scanString(field: field) }
        guard index < bytes.count, bytes[index] == Self.quote else {
            throw failure(field.name, "must be a string")
        }
        let start = index + 1
        if let plain = plainString(from: start) {
            index = plain.end + 1
            if !plain.ascii, String(validating: UnsafeBufferPointer(rebasing: bytes[start..<plain.end]), as: UTF8.self) == nil {
                throw failure(field.name, "is not valid UTF-8")
            }
            return nil
        }
        _ = try scanEscapedString(field: field.name)
        return nil
    }

    /// `event.action`, as one of the vocabulary's constants when it is one: no string is
    /// made for the value nearly every line carries.
    private mutating func scanAction() throws(EventDecodingError) -> EventAction {
        let field = EventKey.action
        let start = index + 1
        if index < bytes.count, bytes[index] == Self.quote, let plain = plainString(from: start),
           let known = Self.knownAction(bytes.baseAddress! + start, count: plain.end - start) {
            index = plain.end + 1
            return known
        }
        let text = try scanString(field: field)
        guard !text.isEmpty else { throw failure(field.name, "must not be empty") }
        return EventAction(rawValue: text)
    }

    /// The vocabulary's action named exactly by these bytes: the length and a byte or two
    /// pick the only candidate, as for keys.
    static func knownAction(_ name: UnsafePointer<UInt8>, count: Int) -> EventAction? {
        let candidate: (name: StaticString, action: EventAction)
        switch count {
        case 13:
            candidate = name[8] == UInt8(ascii: "a") ? ("proxy.started", .proxyStarted) : ("proxy.stopped", .proxyStopped)
        case 14:
            switch (name[0], name[2], name[8]) {
            case (UInt8(ascii: "e"), _, _): candidate = ("events.dropped", .eventsDropped)
            case (_, UInt8(ascii: "s"), _): candidate = ("session.closed", .sessionClosed)
            case (_, _, UInt8(ascii: "o")): candidate = ("secret.rotated", .secretRotated)
            default: candidate = ("secret.retired", .secretRetired)
            }
        case 15:
            switch (name[0], name[9]) {
            case (UInt8(ascii: "p"), _): candidate = ("probe.forwarded", .probeForwarded)
            case (UInt8(ascii: "u"), _): candidate = ("upstream.failed", .upstreamFailed)
            case (_, UInt8(ascii: "l")): candidate = ("config.reloaded", .configReloaded)
            default: candidate = ("config.rejected", .configRejected)
            }
        case 16: candidate = ("handshake.failed", .handshakeFailed)
        case 18: candidate = ("blocklist.reloaded", .blocklistReloaded)
        case 19:
            switch (name[0], name[11]) {
            case (UInt8(ascii: "h"), _): candidate = ("handshake.succeeded", .handshakeSucceeded)
            case (_, UInt8(ascii: "a")): candidate = ("connection.accepted", .connectionAccepted)
            default: candidate = ("connection.rejected", .connectionRejected)
            }
        default: return nil
        }
        return sameBytes(name, candidate.name.utf8Start, count: count) ? candidate.action : nil
    }

    private mutating func scanString(field: EventKey) throws(EventDecodingError) -> String {
        guard index < bytes.count, bytes[index] == Self.quote else {
            throw failure(field.name, "must be a string")
        }
        let start = index + 1
        if let plain = plainString(from: start) {
            index = plain.end + 1
            return try makeString(UnsafeBufferPointer(rebasing: bytes[start..<plain.end]), ascii: plain.ascii, field: field.name)
        }
        return try scanEscapedString(field: field.name)
    }

    /// A string value that must not need unescaping (the timestamp).
    private mutating func scanPlainStringBounds(field: EventKey) throws(EventDecodingError) -> (Int, Int) {
        guard index < bytes.count, bytes[index] == Self.quote else { throw failure(field.name, "must be a string") }
        let start = index + 1
        guard let end = plainString(from: start)?.end else {
            throw failure(field.name, "is not an RFC 3339 timestamp")
        }
        index = end + 1
        return (start, end)
    }

    private struct PlainString {
        var end: Int
        var ascii: Bool
    }

    /// The bounds of the string value at `index` when it needs no unescaping; the value is
    /// not consumed.
    private func plainValue() -> (start: Int, end: Int)? {
        guard index < bytes.count, bytes[index] == Self.quote, let plain = plainString(from: index + 1) else { return nil }
        return (index + 1, plain.end)
    }

    private func matches(_ word: (start: Int, end: Int), _ name: StaticString) -> Bool {
        word.end - word.start == name.utf8CodeUnitCount
            && sameBytes(bytes.baseAddress! + word.start, name.utf8Start, count: name.utf8CodeUnitCount)
    }

    /// `event.outcome` and `proxy.transport` read from their bytes: no `String` for a value
    /// from a closed list.
    private func outcome(_ word: (start: Int, end: Int)) -> EventOutcome? {
        if matches(word, "failure") { return .failure }
        if matches(word, "success") { return .success }
        return nil
    }

    private func transport(_ word: (start: Int, end: Int)) -> ProxyTransport? {
        if matches(word, "faketls") { return .faketls }
        if matches(word, "secure") { return .secure }
        if matches(word, "classic") { return .classic }
        return nil
    }

    /// Where the closing quote is when the string holds no escape and no control byte, and
    /// whether all before it is ASCII; `nil` sends the caller to the slow path, which also
    /// reports the errors. Eight bytes at a time: hashes and ids are much of a line.
    private func plainString(from start: Int) -> PlainString? {
        guard let base = bytes.baseAddress else { return nil }
        let count = bytes.count
        var cursor = start
        var high: UInt64 = 0
        while cursor + 8 <= count {
            let word = UInt64(littleEndian: UnsafeRawPointer(base + cursor).loadUnaligned(as: UInt64.self))
            let special = Self.zeroBytes(word ^ 0x2222_2222_2222_2222) | Self.zeroBytes(word ^ 0x5C5C_5C5C_5C5C_5C5C)
                | Self.bytesBelowSpace(word)
            if special != 0 {
                // The lowest flag marks the first special byte; flags above it may be false.
                let offset = special.trailingZeroBitCount >> 3
                high |= word & Self.highBits & ((1 << UInt64(offset * 8)) &- 1)
                guard base[cursor + offset] == Self.quote else { return nil }
                return PlainString(end: cursor + offset, ascii: high == 0)
            }
            high |= word & Self.highBits
            cursor += 8
        }
        while cursor < count {
            let byte = base[cursor]
            if byte == Self.quote { return PlainString(end: cursor, ascii: high == 0) }
            if byte == Self.backslash || byte < 0x20 { return nil }
            high |= UInt64(byte & 0x80)
            cursor += 1
        }
        return nil
    }

    private static let highBits: UInt64 = 0x8080_8080_8080_8080

    /// The high bit of each zero byte of `word` (and perhaps of bytes after the first one).
    private static func zeroBytes(_ word: UInt64) -> UInt64 {
        (word &- 0x0101_0101_0101_0101) & ~word & highBits
    }

    /// The high bit of each byte of `word` below 0x20 (and perhaps of bytes after the first one).
    private static func bytesBelowSpace(_ word: UInt64) -> UInt64 {
        (word &- 0x2020_2020_2020_2020) & ~word & highBits
    }

    /// `field` is only spelled out for an error: on the hot path no name is made.
    private func makeString(
        _ raw: UnsafeBufferPointer<UInt8>, ascii: Bool, field: @autoclosure () -> String?
    ) throws(EventDecodingError) -> String {
        if ascii { return String(decoding: raw, as: UTF8.self) }
        guard let text = String(validating: raw, as: UTF8.self) else {
            throw failure(field(), "is not valid UTF-8")
        }
        return text
    }

    private mutating func scanEscapedString(field: String?) throws(EventDecodingError) -> String {
        index += 1
        var out: [UInt8] = []
        out.reserveCapacity(32)
        while true {
            guard index < bytes.count else { throw failure(field, "unterminated string") }
            let byte = bytes[index]
            if byte == Self.quote {
                index += 1
                break
            }
            if byte < 0x20 { throw failure(field, "control character in a string (must be escaped)") }
            if byte != Self.backslash {
                out.append(byte)
                index += 1
                continue
            }
            guard index + 1 < bytes.count else { throw failure(field, "unterminated escape") }
            let escaped = bytes[index + 1]
            index += 2
            switch escaped {
            case UInt8(ascii: "\""): out.append(Self.quote)
            case UInt8(ascii: "\\"): out.append(Self.backslash)
            case UInt8(ascii: "/"): out.append(UInt8(ascii: "/"))
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try scanHex4(field: field)
                if (0xD800...0xDBFF).contains(scalar) {
                    guard index + 1 < bytes.count, bytes[index] == Self.backslash, bytes[index + 1] == UInt8(ascii: "u") else {
                        throw failure(field, "unpaired UTF-16 surrogate in \\u escape")
                    }
                    index += 2
                    let low = try scanHex4(field: field)
                    guard (0xDC00...0xDFFF).contains(low) else { throw failure(field, "unpaired UTF-16 surrogate in \\u escape") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw failure(field, "unpaired UTF-16 surrogate in \\u escape")
                }
                guard let unicode = Unicode.Scalar(scalar) else { throw failure(field, "invalid \\u escape") }
                out.append(contentsOf: String(Character(unicode)).utf8)
            default:
                throw failure(field, "invalid escape '\\\(Self.printable(String(decoding: [escaped], as: UTF8.self)))'")
            }
        }
        guard let text = String(validating: out, as: UTF8.self) else { throw failure(field, "is not valid UTF-8") }
        return text
    }

    private mutating func scanHex4(field: String?) throws(EventDecodingError) -> UInt32 {
        guard index + 4 <= bytes.count else { throw failure(field, "truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure(field, "invalid \\u escape")
            }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return value
    }

    /// A JSON number's bounds, checked against the grammar.
    private mutating func scanNumberBounds(field: @autoclosure () -> String) throws(EventDecodingError) -> (start: Int, end: Int, integral: Bool) {
        let start = index
        var integral = true
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        let digitsStart = index
        while index < bytes.count, Self.isDigit(bytes[index]) { index += 1 }
        guard index > digitsStart else { throw failure(field(), "must be a number") }
        if index - digitsStart > 1, bytes[digitsStart] == UInt8(ascii: "0") {
            throw failure(field(), "number with a leading zero")
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            integral = false
            index += 1
            let fractionStart = index
            while index < bytes.count, Self.isDigit(bytes[index]) { index += 1 }
            guard index > fractionStart else { throw failure(field(), "number without digits after '.'") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            integral = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            let exponentStart = index
            while index < bytes.count, Self.isDigit(bytes[index]) { index += 1 }
            guard index > exponentStart else { throw failure(field(), "number without digits in its exponent") }
        }
        return (start, index, integral)
    }

    private mutating func scanInteger(field: EventKey) throws(EventDecodingError) -> Int64 {
        // The usual case read in one pass: 1 to 18 digits, no sign, no leading zero, no
        // fraction or exponent after them. Anything else takes the checked path below.
        var digitsEnd = index
        var plain: Int64 = 0
        while digitsEnd < bytes.count, Self.isDigit(bytes[digitsEnd]) {
            plain = plain &* 10 &+ Int64(bytes[digitsEnd] &- UInt8(ascii: "0"))
            digitsEnd += 1
        }
        let digits = digitsEnd - index
        if digits >= 1, digits <= 18, digits == 1 || bytes[index] != UInt8(ascii: "0"),
           digitsEnd == bytes.count || (bytes[digitsEnd] != UInt8(ascii: ".") && bytes[digitsEnd] | 0x20 != UInt8(ascii: "e")) {
            index = digitsEnd
            return plain
        }
        let (start, end, integral) = try scanNumberBounds(field: field.name)
        guard integral else { throw failure(field.name, "must be an integer") }
        var cursor = start
        let negative = bytes[cursor] == UInt8(ascii: "-")
        if negative { cursor += 1 }
        guard end - cursor <= 18 else { throw failure(field.name, "integer out of range") }
        var value: Int64 = 0
        while cursor < end {
            value = value * 10 + Int64(bytes[cursor] - UInt8(ascii: "0"))
            cursor += 1
        }
        return negative ? -value : value
    }

    private mutating func scanCount(field: EventKey) throws(EventDecodingError) -> UInt64 {
        let value = try scanInteger(field: field)
        guard value >= 0 else { throw failure(field.name, "must not be negative") }
        return UInt64(value)
    }

    /// A `labels.*` value: strings as they are, numbers and booleans as their JSON text.
    private mutating func scanScalarAsText(field: String) throws(EventDecodingError) -> String? {
        guard index < bytes.count else { throw failure(field, "line ends before the value") }
        switch bytes[index] {
        case Self.quote:
            let start = index + 1
            if let plain = plainString(from: start) {
                index = plain.end + 1
                return try makeString(UnsafeBufferPointer(rebasing: bytes[start..<plain.end]), ascii: plain.ascii, field: field)
            }
            return try scanEscapedString(field: field)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let (start, end, _) = try scanNumberBounds(field: field)
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
        case UInt8(ascii: "t"), UInt8(ascii: "f"):
            if try scanLiteral(field: field) { return "true" }
            return "false"
        case UInt8(ascii: "n"):
            if scanNull() { return nil }
            throw failure(field, "invalid literal")
        default:
            throw failure(field, "must be a string, number or boolean")
        }
    }

    private mutating func scanLiteral(field: String) throws(EventDecodingError) -> Bool {
        func matches(_ word: StaticString) -> Bool {
            let count = word.utf8CodeUnitCount
            guard index + count <= bytes.count else { return false }
            let pointer = word.utf8Start
            for offset in 0..<count where bytes[index + offset] != pointer[offset] { return false }
            return true
        }
        if matches("true") { index += 4; return true }
        if matches("false") { index += 5; return false }
        throw failure(field, "invalid literal")
    }

    /// Skips the value of an unknown key, nested or not, checking it is well formed.
    private mutating func skipValue(field: String) throws(EventDecodingError) {
        // Iterative rather than recursive so that deep nesting cannot exhaust the stack;
        // bit n of `objects` says whether the container at depth n+1 is an object.
        var depth = 0
        var objects: UInt64 = 0
        var expectingValue = true
        while true {
            skipWhitespace()
            guard index < bytes.count else { throw failure(field, "line ends inside the value") }
            let byte = bytes[index]
            if expectingValue {
                switch byte {
                case UInt8(ascii: "{"), UInt8(ascii: "["):
                    guard depth < Self.maximumNesting else { throw failure(field, "nested deeper than \(Self.maximumNesting)") }
                    let isObject = byte == UInt8(ascii: "{")
                    if isObject { objects |= 1 << UInt64(depth) } else { objects &= ~(1 << UInt64(depth)) }
                    depth += 1
                    index += 1
                    skipWhitespace()
                    if index < bytes.count, bytes[index] == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                        index += 1
                        depth -= 1
                        expectingValue = false
                        if depth == 0 { return }
                    } else if isObject {
                        try skipMemberKey(field: field)
                    }
                    continue
                case Self.quote:
                    try skipString(field: field)
                case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                    _ = try scanNumberBounds(field: field)
                case UInt8(ascii: "t"), UInt8(ascii: "f"):
                    _ = try scanLiteral(field: field)
                case UInt8(ascii: "n"):
                    guard scanNull() else { throw failure(field, "invalid literal") }
                default:
                    throw failure(field, "invalid value at column \(index + 1)")
                }
                expectingValue = false
                if depth == 0 { return }
                continue
            }
            let inObject = objects & (1 << UInt64(depth - 1)) != 0
            switch byte {
            case UInt8(ascii: ","):
                index += 1
                expectingValue = true
                if inObject { try skipMemberKey(field: field) }
            case UInt8(ascii: "}") where inObject, UInt8(ascii: "]") where !inObject:
                index += 1
                depth -= 1
                if depth == 0 { return }
            default:
                throw failure(field, "expected ',' or a closing bracket at column \(index + 1)")
            }
        }
    }

    private mutating func skipMemberKey(field: String) throws(EventDecodingError) {
        skipWhitespace()
        guard index < bytes.count, bytes[index] == Self.quote else { throw failure(field, "expected a quoted key at column \(index + 1)") }
        try skipString(field: field)
        skipWhitespace()
        guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw failure(field, "expected ':' at column \(index + 1)") }
        index += 1
    }

    private mutating func skipString(field: String) throws(EventDecodingError) {
        let start = index + 1
        if let plain = plainString(from: start) {
            if !plain.ascii {
                _ = try makeString(UnsafeBufferPointer(rebasing: bytes[start..<plain.end]), ascii: false, field: field)
            }
            index = plain.end + 1
        } else {
            _ = try scanEscapedString(field: field)
        }
    }

    // MARK: Timestamps

    private mutating func parseTimestamp(_ text: UnsafeBufferPointer<UInt8>) throws(EventDecodingError) -> Int64 {
        if let milliseconds = Self.timestampMilliseconds(text, lastDate: &lastDate) { return milliseconds }
        throw failure(EventKey.timestamp.name,
                      "\"\(Self.printable(String(decoding: text, as: UTF8.self)))\" is not an RFC 3339 timestamp (2026-01-31T12:00:00.000Z)")
    }

    /// RFC 3339: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`, to milliseconds since the epoch;
    /// nil when `text` is not one. `lastDate` is the date of the last timestamp read.
    static func timestampMilliseconds(_ text: UnsafeBufferPointer<UInt8>, lastDate: inout TimestampDate) -> Int64? {
        func digits(_ at: Int, _ count: Int) -> Int? {
            guard at + count <= text.count else { return nil }
            var value = 0
            for offset in 0..<count {
                let byte = text[at + offset]
                guard Self.isDigit(byte) else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        func byte(_ at: Int) -> UInt8? { at < text.count ? text[at] : nil }
        // Consecutive lines nearly always share the date: its ten bytes, once checked, are
        // compared rather than parsed again.
        guard text.count >= 10, let base = text.baseAddress else { return nil }
        let head = UnsafeRawPointer(base).loadUnaligned(as: UInt64.self)
        let tail = UnsafeRawPointer(base + 8).loadUnaligned(as: UInt16.self)
        let days: Int64
        if lastDate.isSet, lastDate.head == head, lastDate.tail == tail {
            days = lastDate.daysSinceEpoch
        } else {
            guard let year = digits(0, 4), byte(4) == UInt8(ascii: "-"), let month = digits(5, 2), byte(7) == UInt8(ascii: "-"),
                  let day = digits(8, 2), (1...12).contains(month), day >= 1, day <= Self.daysIn(month: month, year: year)
            else { return nil }
            days = Int64(Event.daysSinceEpoch(year: year, month: month, day: day))
            lastDate = TimestampDate(head: head, tail: tail, daysSinceEpoch: days, isSet: true)
        }
        if text.count == 24, let time = millisecondsOfDay(base) { return days * 86_400_000 + time }
        guard let separator = byte(10),
              separator == UInt8(ascii: "T") || separator == UInt8(ascii: "t") || separator == UInt8(ascii: " "),
              let hour = digits(11, 2), byte(13) == UInt8(ascii: ":"), let minute = digits(14, 2),
              byte(16) == UInt8(ascii: ":"), let second = digits(17, 2),
              hour < 24, minute < 60, second <= 60 else { return nil }
        var cursor = 19
        var milliseconds = 0
        if byte(cursor) == UInt8(ascii: ".") {
            cursor += 1
            let fractionStart = cursor
            var scale = 100
            while let next = byte(cursor), Self.isDigit(next) {
                milliseconds += Int(next - UInt8(ascii: "0")) * scale
                scale /= 10
                cursor += 1
            }
            guard cursor > fractionStart, cursor - fractionStart <= 9 else { return nil }
        }
        var offsetMinutes = 0
        switch byte(cursor) {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            cursor += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign = byte(cursor) == UInt8(ascii: "-") ? -1 : 1
            guard let offsetHours = digits(cursor + 1, 2), byte(cursor + 3) == UInt8(ascii: ":"),
                  let offsetMinute = digits(cursor + 4, 2), offsetHours < 24, offsetMinute < 60 else { return nil }
            offsetMinutes = sign * (offsetHours * 60 + offsetMinute)
            cursor += 6
        default:
            return nil
        }
        guard cursor == text.count else { return nil }
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second) - Int64(offsetMinutes * 60)
        return seconds * 1000 + Int64(milliseconds)
    }

    /// `THH:MM:SS.mmmZ` at bytes 10..<24 of a timestamp, the form mtproxy writes, read at
    /// fixed places in one pass: milliseconds since midnight, or nil for any other form.
    @inline(__always)
    private static func millisecondsOfDay(_ text: UnsafePointer<UInt8>) -> Int64? {
        @inline(__always) func digit(_ at: Int) -> UInt32 { UInt32(text[at] &- UInt8(ascii: "0")) }
        let h1 = digit(11), h2 = digit(12), m1 = digit(14), m2 = digit(15), s1 = digit(17), s2 = digit(18)
        let f1 = digit(20), f2 = digit(21), f3 = digit(22)
        // One test for nine digits: 6 more than a digit is below 16, 6 more than any other byte is not.
        guard (h1 &+ 6) | (h2 &+ 6) | (m1 &+ 6) | (m2 &+ 6) | (s1 &+ 6) | (s2 &+ 6) | (f1 &+ 6) | (f2 &+ 6) | (f3 &+ 6) < 16,
              text[10] == UInt8(ascii: "T") || text[10] == UInt8(ascii: "t") || text[10] == UInt8(ascii: " "),
              text[13] == UInt8(ascii: ":"), text[16] == UInt8(ascii: ":"), text[19] == UInt8(ascii: "."),
              text[23] == UInt8(ascii: "Z") || text[23] == UInt8(ascii: "z") else { return nil }
        let hour = h1 * 10 + h2, minute = m1 * 10 + m2, second = s1 * 10 + s2
        guard hour < 24, minute < 60, second <= 60 else { return nil }
        return Int64(((hour * 60 + minute) * 60 + second) * 1000 + f1 * 100 + f2 * 10 + f3)
    }

    /// Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's algorithm).
    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    // MARK: Bytes

    private mutating func skipWhitespace() {
        while index < bytes.count, Self.isWhitespace(bytes[index]) { index += 1 }
    }

    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte &- UInt8(ascii: "0") < 10 }

    /// Text quoted back in an error message: bounded and free of control characters.
    static func printable(_ text: String) -> String {
        let clipped = text.unicodeScalars.prefix(64).map { $0.value < 0x20 || $0.value == 0x7F ? "?" : Character($0) }
        return String(clipped) + (text.unicodeScalars.count > 64 ? "…" : "")
    }
}

/// Whether `count` bytes at `lhs` and `rhs` are equal. For the 4 to 24 bytes of a key or an
/// action name: two or three overlapping word loads instead of a loop.
@inline(__always)
func sameBytes(_ lhs: UnsafePointer<UInt8>, _ rhs: UnsafePointer<UInt8>, count: Int) -> Bool {
    let left = UnsafeRawPointer(lhs), right = UnsafeRawPointer(rhs)
    switch count {
    case 4..<8:
        return left.loadUnaligned(as: UInt32.self) == right.loadUnaligned(as: UInt32.self)
            && left.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)
            == right.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)
    case 8...16:
        return left.loadUnaligned(as: UInt64.self) == right.loadUnaligned(as: UInt64.self)
            && left.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
            == right.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
    case 17...24:
        return left.loadUnaligned(as: UInt64.self) == right.loadUnaligned(as: UInt64.self)
            && left.loadUnaligned(fromByteOffset: 8, as: UInt64.self) == right.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
            && left.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
            == right.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
    default:
        for offset in 0..<count where lhs[offset] != rhs[offset] { return false }
        return true
    }
}
