@testable import EventLog
import Testing

/// The line decoder's fast path (`decodeClean`) against its general scanner (`decodeInFull`),
/// over many generated lines: clean ones as mtproxy writes them, valid ones it does not
/// write (whitespace, escapes, unicode, nulls, labels, unknown keys, signs, repeated keys)
/// and mutated ones. `decode` must give what the general scanner alone gives, the same
/// event or the same error (message, line, field); the fast path may decline any line but
/// must never accept one the general scanner refuses or reads otherwise; and it must take
/// every clean line, so that agreement cannot come from always falling back.
@Suite struct CleanLineDecodingTests {
    typealias Outcome = Result<Event, EventDecodingError>

    /// The three readings of one line. `combined` and `clean` decode into events that held
    /// the previous line's fields, with decoders that read the previous lines, as replay does.
    struct Readings {
        var general: Outcome
        var combined: Outcome
        var clean: Event?
    }

    struct Decoders {
        var combined: EventLineDecoder
        var clean: EventLineDecoder
        var combinedEvent = Self.filled
        var cleanEvent = Self.filled

        init(fields: EventFieldSet) {
            combined = EventLineDecoder(keeping: fields)
            clean = EventLineDecoder(keeping: fields)
        }

        /// An event with every field set, so that a field a line lacks must be emptied.
        static let filled = Event(
            timestampMilliseconds: 1, action: "left.over", outcome: .success, reason: "r", sourceIP: "ip", sourcePort: 1,
            sourceIPHash: "h", sourcePrefix: "p", sessionID: "s", instance: "i", listener: "l", transport: .classic,
            secretName: "n", dc: 1, bytesIn: 1, bytesOut: 1, durationMilliseconds: 1, message: "m", labels: ["k": "v"])

        mutating func read(_ bytes: [UInt8], fields: EventFieldSet, lineNumber: Int = 9) -> Readings {
            combined.fields = fields
            clean.fields = fields
            return bytes.withUnsafeBufferPointer { line in
                var fresh = EventLineDecoder(keeping: fields)
                var generalEvent = Event(timestampMilliseconds: 0, action: "")
                let general: Outcome
                do throws(EventDecodingError) {
                    try fresh.decodeInFull(line, lineNumber: lineNumber, into: &generalEvent)
                    general = .success(generalEvent)
                } catch {
                    general = .failure(error)
                }
                let both: Outcome
                do throws(EventDecodingError) {
                    try combined.decode(line, lineNumber: lineNumber, into: &combinedEvent)
                    both = .success(combinedEvent)
                } catch {
                    both = .failure(error)
                }
                let took = clean.decodeClean(line, into: &cleanEvent)
                return Readings(general: general, combined: both, clean: took ? cleanEvent : nil)
            }
        }
    }

    /// Checks one line; true when the fast path took it.
    @discardableResult
    static func check(_ bytes: [UInt8], fields: EventFieldSet, with decoders: inout Decoders, mustBeClean: Bool = false,
                      sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        let readings = decoders.read(bytes, fields: fields)
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(readings.combined == readings.general, "fields \(fields.rawValue): \(text)", sourceLocation: sourceLocation)
        if let clean = readings.clean {
            #expect(readings.general == .success(clean), "fast path: fields \(fields.rawValue): \(text)", sourceLocation: sourceLocation)
        }
        if mustBeClean {
            #expect(readings.clean != nil, "fast path declined a clean line: \(text)", sourceLocation: sourceLocation)
            #expect((try? readings.general.get()) != nil, "a clean line is refused: \(text)", sourceLocation: sourceLocation)
        }
        return readings.clean != nil
    }

    static let replayFields: EventFieldSet = [.reason, .sourceIP, .sourceIPHash, .sourcePrefix]

    static func randomFields(_ random: inout SplitMix64) -> EventFieldSet {
        switch random.next() % 4 {
        case 0: .all
        case 1: []
        case 2: replayFields
        default: EventFieldSet(rawValue: UInt32(truncatingIfNeeded: random.next()) & EventFieldSet.all.rawValue)
        }
    }

    // MARK: Clean lines

    @Test func cleanLinesTakeTheFastPathAndDecodeAlike() {
        var random = SplitMix64(seed: 0xc1ea_11e5)
        var decoders = Decoders(fields: .all)
        for _ in 0..<20_000 {
            let line = CleanLine.random(&random)
            Self.check(line.bytes, fields: Self.randomFields(&random), with: &decoders, mustBeClean: true)
        }
    }

    /// The lines mtproxy writes, as Benchmarks/auditor/generate-events.py writes them.
    @Test(arguments: [
        #"{"@timestamp":"2026-06-01T00:00:00.000Z","event.action":"handshake.succeeded","source.ip_hash":"a02895cdf266cc7708617f1919f610c1","source.prefix":"100.65.255.0/24","session.id":"0000000000000000","proxy.instance":"bench","proxy.transport":"faketls","schema.version":1}"#,
        #"{"@timestamp":"2026-06-01T00:00:00.014Z","event.action":"session.closed","source.ip_hash":"f7b8193b76119cf558f7f22e4bbfd31f","source.prefix":"100.66.241.0/24","session.id":"0000000000000004","proxy.instance":"bench","proxy.transport":"faketls","event.reason":"client_closed","network.bytes_in":248832,"network.bytes_out":54653952,"event.duration_ms":2553000,"schema.version":1}"#,
        #"{"@timestamp":"2026-06-01T00:00:00.036Z","event.action":"handshake.failed","event.outcome":"failure","event.reason":"timeout","source.ip":"100.65.97.205","source.port":42426,"session.id":"000000000000000a","proxy.instance":"bench","proxy.transport":"faketls","event.duration_ms":2964,"schema.version":1}"#,
        #"{"@timestamp":"2026-06-01T00:00:00.068Z","event.action":"probe.forwarded","source.ip":"198.51.100.169","session.id":"0000000000000013","proxy.instance":"bench","schema.version":1}"#,
        #"{"@timestamp":"2026-06-01T00:00:00.090Z","event.action":"connection.rejected","event.reason":"rate_limit","source.ip":"203.0.113.96","proxy.instance":"bench","schema.version":1}"#,
        #"{"@timestamp":"2026-11-24T22:56:07.123Z","event.action":"handshake.failed","event.outcome":"failure","event.reason":"bad_secret","source.ip":"203.0.113.7","source.port":51234,"source.ip_hash":"00112233445566778899aabbccddeeff","source.prefix":"203.0.113.0/24","session.id":"s1","proxy.instance":"vps1","proxy.listener":"0.0.0.0:443","proxy.transport":"faketls","mt.secret":"main","mt.dc":2,"network.bytes_in":517,"network.bytes_out":0,"event.duration_ms":12,"message":"Handshake failed.","schema.version":1}"#,
    ])
    func theProxysLinesTakeTheFastPath(line: String) {
        var decoders = Decoders(fields: .all)
        for fields in [EventFieldSet.all, [], Self.replayFields] {
            Self.check(Array(line.utf8), fields: fields, with: &decoders, mustBeClean: true)
            Self.check(Array(line.utf8) + [0x0D], fields: fields, with: &decoders, mustBeClean: true)
        }
    }

    /// Numbers at their limits and one past them, lengths at the line limit and the
    /// 64-byte steps of the scan, both sides.
    @Test func limitsAreKeptByBothPaths() {
        var decoders = Decoders(fields: .all)
        let head = #"{"@timestamp":"2026-05-01T00:00:00.000Z","event.action":"a""#
        let numbers: [(String, [String])] = [
            ("source.port", ["0", "1", "65535", "65536", "99999", "00", "01", "-0", "-1", "1.0", "1e2", "6553.5"]),
            ("mt.dc", ["0", "1000", "1001", "-1000", "-1001", "-0", "999"]),
            ("schema.version", ["0", "1", "2", "-1", "999999999999999999", "1000000000000000000"]),
            ("network.bytes_in", ["0", "999999999999999999", "1000000000000000000", "123456789012345678", "-0", "-1"]),
            ("network.bytes_out", ["9", "10", "099"]),
            ("event.duration_ms", ["7", "null", "\"7\""]),
        ]
        for (key, values) in numbers {
            for value in values {
                for fields in [EventFieldSet.all, []] {
                    Self.check(Array((head + #","\#(key)":\#(value)}"#).utf8), fields: fields, with: &decoders)
                    Self.check(Array((#"{"\#(key)":\#(value),"# + String(head.dropFirst()) + "}").utf8), fields: fields, with: &decoders)
                }
            }
        }
        var taken = 0
        for total in Array(60...200) + Array(4080...4100) {
            let padding = total - head.utf8.count - #","message":""}"#.utf8.count
            guard padding >= 0 else { continue }
            let line = head + #","message":""# + String(repeating: "m", count: padding) + #""}"#
            #expect(line.utf8.count == total)
            if Self.check(Array(line.utf8), fields: .all, with: &decoders, mustBeClean: total <= Event.maximumLineBytes) { taken += 1 }
            // The same with trailing whitespace, which does not count towards the limit.
            Self.check(Array((line + " \r").utf8), fields: .all, with: &decoders, mustBeClean: total <= Event.maximumLineBytes)
        }
        #expect(taken > 100)
    }

    // MARK: Valid lines the fast path need not take

    @Test func validLinesItDoesNotTakeDecodeAlike() {
        var random = SplitMix64(seed: 0x0dd_11e5)
        var decoders = Decoders(fields: .all)
        var taken = 0, declined = 0
        for _ in 0..<20_000 {
            var line = CleanLine.random(&random)
            line.roughen(&random)
            let bytes = line.bytes
            if Self.check(bytes, fields: Self.randomFields(&random), with: &decoders) { taken += 1 } else { declined += 1 }
            var fresh = EventLineDecoder()
            var event = Event(timestampMilliseconds: 0, action: "")
            let valid = bytes.withUnsafeBufferPointer { buffer in
                (try? fresh.decodeInFull(buffer, lineNumber: 1, into: &event)) != nil
            }
            #expect(valid, "\(String(decoding: bytes, as: UTF8.self))")
        }
        #expect(declined > 10_000)
    }

    // MARK: Mutated lines

    @Test func mutatedLinesDecodeAlike() {
        var random = SplitMix64(seed: 0x3a7e_d11e)
        var decoders = Decoders(fields: .all)
        var accepted = 0, rejected = 0, taken = 0
        for _ in 0..<40_000 {
            var line = CleanLine.random(&random)
            if random.next() % 4 == 0 { line.roughen(&random) }
            var bytes = line.bytes
            for _ in 0..<(1 + Int(random.next() % 3)) {
                Mutation.apply(to: &bytes, members: line.memberTexts, &random)
            }
            let fields = Self.randomFields(&random)
            if Self.check(bytes, fields: fields, with: &decoders) { taken += 1 }
            switch decoders.read(bytes, fields: fields).general {
            case .success: accepted += 1
            case .failure: rejected += 1
            }
        }
        // Both kinds in numbers, and mutated lines the fast path still takes (a changed
        // digit or letter in a value).
        #expect(accepted > 5000)
        #expect(rejected > 15_000)
        #expect(taken > 2000)
    }

    /// Every byte value at every position of clean lines, one short, one with every key
    /// (so every byte of every name), each read after itself so that its keys are predicted.
    @Test(arguments: [
        #"{"@timestamp":"2026-05-01T00:00:00.5+01:30","event.action":"x","mt.dc":7,"source.ip":"a b","event.outcome":"success"}"#,
        #"{"@timestamp":"2026-05-01T00:00:00.000Z","event.action":"session.closed","event.outcome":"failure","event.reason":"r","#
            + #""source.ip":"203.0.113.7","source.port":443,"source.ip_hash":"00112233445566778899aabbccddeeff","#
            + #""source.prefix":"203.0.113.0/24","session.id":"s","proxy.instance":"i","proxy.listener":"l","#
            + #""proxy.transport":"secure","mt.secret":"m","mt.dc":2,"network.bytes_in":1,"network.bytes_out":22,"#
            + #""event.duration_ms":333,"message":"M","schema.version":1}"#,
    ])
    func everyByteAtEveryPosition(line: String) {
        var decoders = Decoders(fields: .all)
        let line = Array(line.utf8)
        for position in line.indices {
            for byte in UInt8.min...UInt8.max {
                var mutated = line
                mutated[position] = byte
                Self.check(line, fields: [.dc, .sourceIP, .outcome, .bytesOut], with: &decoders, mustBeClean: true)
                Self.check(mutated, fields: [.dc, .sourceIP, .outcome, .bytesOut], with: &decoders)
            }
        }
    }
}

/// A clean line: known keys once each in any order, ASCII strings without escapes, unsigned
/// integers in range, no whitespace between tokens. Kept as its members so that it can be
/// roughened (made valid but unclean) and mutated member by member.
struct CleanLine {
    var members: [(key: String, value: String)]
    var leading = ""
    var trailing = ""
    var separators: [String] = []

    var memberTexts: [String] { members.map { #""\#($0.key)":\#($0.value)"# } }

    var bytes: [UInt8] {
        var text = leading + "{"
        for (index, member) in memberTexts.enumerated() {
            if index > 0 { text += separators.indices.contains(index) ? separators[index] : "," }
            text += member
        }
        return Array((text + "}" + trailing).utf8)
    }

    static let actions = [
        "proxy.started", "proxy.stopped", "config.reloaded", "config.rejected", "blocklist.reloaded",
        "connection.accepted", "connection.rejected", "handshake.succeeded", "handshake.failed", "probe.forwarded",
        "upstream.failed", "session.closed", "events.dropped", "secret.rotated", "secret.retired",
        "handshake.failedx", "probe", "x", "connection.acceptee",
    ]
    static let stringKeys = [
        "event.reason", "source.ip", "source.ip_hash", "source.prefix", "session.id", "proxy.instance", "proxy.listener",
        "mt.secret", "message",
    ]

    static func pick<T>(_ values: [T], _ random: inout SplitMix64) -> T { values[Int(random.next() % UInt64(values.count))] }

    /// Printable ASCII less the quote and the backslash: spaces and JSON's punctuation
    /// included, as a string may hold them.
    static func text(_ random: inout SplitMix64) -> String {
        let length: Int
        switch random.next() % 10 {
        case 0: length = 0
        case 1: length = 40 + Int(random.next() % 200)
        default: length = 1 + Int(random.next() % 34)
        }
        var scalars = String.UnicodeScalarView()
        for _ in 0..<length {
            var value = 0x20 + UInt32(random.next() % 95)
            if value == 0x22 || value == 0x5C { value = UInt32(UInt8(ascii: "q")) }
            scalars.append(Unicode.Scalar(value)!)
        }
        return String(scalars)
    }

    static func integer(_ random: inout SplitMix64, upTo limit: UInt64, from lower: UInt64 = 0) -> String {
        switch random.next() % 5 {
        case 0: return String(limit)
        case 1: return String(lower)
        default: return String(lower + random.next() % (limit - lower + 1))
        }
    }

    static func timestamp(_ random: inout SplitMix64) -> String {
        let year = 1970 + Int(random.next() % 130), month = 1 + Int(random.next() % 12)
        let day = 1 + Int(random.next() % UInt64(EventLineScanner.daysIn(month: month, year: year)))
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        var text = "\(year)-\(two(month))-\(two(day))" + pick(["T", "T", "T", "t", " "], &random)
        text += "\(two(Int(random.next() % 24))):\(two(Int(random.next() % 60))):\(two(Int(random.next() % 61)))"
        let digits = Int(random.next() % 10)
        if digits > 0 { text += "." + (0..<digits).map { _ in String(random.next() % 10) }.joined() }
        switch random.next() % 4 {
        case 0: text += "z"
        case 1: text += (random.next() % 2 == 0 ? "+" : "-") + two(Int(random.next() % 24)) + ":" + two(Int(random.next() % 60))
        default: text += "Z"
        }
        return text
    }

    static func random(_ random: inout SplitMix64) -> CleanLine {
        var members: [(String, String)] = [
            ("@timestamp", "\"" + timestamp(&random) + "\""),
            ("event.action", "\"" + pick(actions, &random) + "\""),
        ]
        for key in stringKeys where random.next() % 2 == 0 { members.append((key, "\"" + text(&random) + "\"")) }
        if random.next() % 2 == 0 { members.append(("event.outcome", pick(["\"success\"", "\"failure\""], &random))) }
        if random.next() % 2 == 0 { members.append(("proxy.transport", pick(["\"classic\"", "\"secure\"", "\"faketls\""], &random))) }
        if random.next() % 2 == 0 { members.append(("source.port", integer(&random, upTo: 65535))) }
        if random.next() % 2 == 0 { members.append(("mt.dc", integer(&random, upTo: 1000))) }
        for key in ["network.bytes_in", "network.bytes_out", "event.duration_ms"] where random.next() % 2 == 0 {
            members.append((key, integer(&random, upTo: 999_999_999_999_999_999)))
        }
        if random.next() % 2 == 0 { members.append(("schema.version", integer(&random, upTo: 999_999_999_999_999_999, from: 1))) }
        members.shuffle(using: &random)
        return CleanLine(members: members)
    }

    /// Whether any text is a valid value of `key`.
    static func freeText(_ key: String) -> Bool { !["@timestamp", "event.outcome", "proxy.transport"].contains(key) }

    /// One change that keeps the line valid but not clean: whitespace, an escape, unicode,
    /// a null, a label, an unknown key, a sign, a repeated key.
    mutating func roughen(_ random: inout SplitMix64) {
        let index = Int(random.next() % UInt64(members.count))
        let whitespace = [" ", "\t", "\r", "\n", "  \t"]
        switch random.next() % 11 {
        case 0: leading = Self.pick(whitespace, &random)
        case 1: trailing = Self.pick(whitespace, &random)
        case 2:
            separators = (0..<members.count).map { _ in
                Self.pick([",", " ,", ", ", "\t,\n"], &random)
            }
        case 3:
            members[index].value = Self.pick([" ", "\t"], &random) + members[index].value
        case 4 where members[index].value.hasPrefix("\"") && Self.freeText(members[index].key):
            let escapes = [#"\""#, #"\\"#, #"\/"#, #"\n"#, #"\t"#, #"\u0041"#, #"\u00e9"#, #"\ud83d\ude00"#, #"\b"#, #"\f"#, #"\r"#]
            members[index].value.insert(contentsOf: Self.pick(escapes, &random), at: members[index].value.index(after: members[index].value.startIndex))
        case 5 where members[index].value.hasPrefix("\"") && Self.freeText(members[index].key):
            members[index].value.insert(contentsOf: Self.pick(["é", "😀", "ж", "\u{7F}"], &random), at: members[index].value.index(before: members[index].value.endIndex))
        case 6 where !["@timestamp", "event.action"].contains(members[index].key):
            members[index].value = "null"
        case 7:
            members.insert((Self.pick(["labels.limit", "labels.x", "labels."], &random), Self.pick(["\"10\"", "3", "true", "false", "null", "-1.5e3"], &random)), at: index)
        case 8:
            members.insert((Self.pick(["future.key", "", "source", "labelsx"], &random), Self.pick(["{\"a\":[1,2,{\"b\":null}]}", "[]", "{}", "\"\\\"\"", "-0.5"], &random)), at: index)
        case 9:
            let signed = [("mt.dc", "-" + String(random.next() % 1001)), ("source.port", "-0"), ("network.bytes_in", "-0"), ("event.duration_ms", "-0")]
            let (key, value) = Self.pick(signed, &random)
            members.removeAll { $0.key == key }
            members.insert((key, value), at: min(index, members.count))
        default:
            // The same key again, with another valid value: the last one counts.
            let repeated = members[index]
            let value: String
            switch repeated.key {
            case "@timestamp": value = "\"" + Self.timestamp(&random) + "\""
            case "event.action": value = "\"" + Self.pick(Self.actions, &random) + "\""
            default: value = repeated.value
            }
            members.append((repeated.key, value))
        }
    }
}

/// Byte flips, truncations, insertions, deletions and repeated members with broken values.
enum Mutation {
    static let alphabet = Array(#"{}[]",:\"0 1-.eE@aTZnul"#.utf8) + [0x00, 0x09, 0x0A, 0x1F, 0x7F, 0x80, 0xC3, 0xFF]

    static func apply(to bytes: inout [UInt8], members: [String], _ random: inout SplitMix64) {
        guard !bytes.isEmpty else { return }
        let position = Int(random.next() % UInt64(bytes.count))
        let byte = random.next() % 2 == 0 ? UInt8(truncatingIfNeeded: random.next()) : alphabet[Int(random.next() % UInt64(alphabet.count))]
        switch random.next() % 6 {
        case 0: bytes[position] = byte
        case 1: bytes.removeSubrange(position...)
        case 2: bytes.insert(byte, at: position)
        case 3: bytes.remove(at: position)
        case 4:
            // A digit or a letter changed: often still valid, a test of values, not syntax.
            if bytes[position] &- UInt8(ascii: "0") < 10 {
                bytes[position] = UInt8(ascii: "0") + UInt8(random.next() % 10)
            } else if bytes[position] &- UInt8(ascii: "a") < 26 {
                bytes[position] = UInt8(ascii: "a") + UInt8(random.next() % 26)
            }
        default:
            // A member again, its value cut short or not, before the closing brace.
            guard let member = members.randomElement(using: &random), let close = bytes.lastIndex(of: UInt8(ascii: "}")) else { return }
            var extra = Array(member.utf8)
            if random.next() % 2 == 0, extra.count > 2 { extra.removeLast(1 + Int(random.next() % UInt64(extra.count / 2))) }
            bytes.insert(contentsOf: [UInt8(ascii: ",")] + extra, at: close)
        }
    }
}
