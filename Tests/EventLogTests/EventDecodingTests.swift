import EventLog
import Testing

@Suite struct EventDecodingTests {
    static let full = #"{"@timestamp":"2026-11-24T22:56:07.123Z","event.action":"handshake.failed","event.outcome":"failure","event.reason":"bad_secret","source.ip":"203.0.113.7","source.port":51234,"source.ip_hash":"00112233445566778899aabbccddeeff","source.prefix":"203.0.113.0/24","session.id":"s1","proxy.instance":"vps1","proxy.listener":"0.0.0.0:443","proxy.transport":"faketls","mt.secret":"main","mt.dc":-2,"network.bytes_in":517,"network.bytes_out":0,"event.duration_ms":12,"message":"Handshake failed.","schema.version":1,"labels.limit":"10","labels.count":3,"labels.tls":true}"#

    @Test func decodesEveryField() throws {
        let event = try Event(jsonLine: Self.full, lineNumber: 1)
        #expect(event.timestampMilliseconds == 1_795_560_967_123)
        #expect(event.action == .handshakeFailed)
        #expect(event.outcome == .failure)
        #expect(event.reason == EventReason.badSecret)
        #expect(event.sourceIP == "203.0.113.7")
        #expect(event.sourcePort == 51234)
        #expect(event.sourceIPHash == "00112233445566778899aabbccddeeff")
        #expect(event.sourcePrefix == "203.0.113.0/24")
        #expect(event.sessionID == "s1")
        #expect(event.instance == "vps1")
        #expect(event.listener == "0.0.0.0:443")
        #expect(event.transport == .faketls)
        #expect(event.secretName == "main")
        #expect(event.dc == -2)
        #expect(event.bytesIn == 517)
        #expect(event.bytesOut == 0)
        #expect(event.durationMilliseconds == 12)
        #expect(event.message == "Handshake failed.")
        #expect(event.labels == ["limit": "10", "count": "3", "tls": "true"])
    }

    @Test(arguments: [
        ("1970-01-01T00:00:00Z", Int64(0)),
        ("1970-01-01T00:00:00.5Z", 500),
        ("1970-01-01T00:00:00.123456789Z", 123),
        ("2000-02-29T12:00:00.000Z", 951_825_600_000),
        ("2026-11-24T23:56:07.123+01:00", 1_795_560_967_123),
        ("2026-11-24T21:56:07.123-01:00", 1_795_560_967_123),
        ("2026-11-24t22:56:07.123z", 1_795_560_967_123),
        ("1969-12-31T23:59:59.000Z", -1000),
    ])
    func parsesTimestamps(text: String, milliseconds: Int64) throws {
        let event = try Event(jsonLine: #"{"@timestamp":"\#(text)","event.action":"x"}"#)
        #expect(event.timestampMilliseconds == milliseconds)
    }

    @Test func toleratesUnknownKeysNullsAndWhitespace() throws {
        let line = #"  { "event.action" : "session.closed" , "future.key": {"a":[1,2,{"b":null}],"c":"\"}"}, "x":[], "y":{},"#
            + #" "event.reason": null, "source.port": null, "@timestamp": "2026-01-01T00:00:00.000Z", "z": -1.5e3 }"# + "\r\n"
        let event = try Event(jsonLine: line)
        #expect(event.action == .sessionClosed)
        #expect(event.reason == nil)
        #expect(event.sourcePort == nil)
        #expect(event.timestampMilliseconds == 1_767_225_600_000)
    }

    @Test func unescapesStrings() throws {
        let line = #"{"@timestamp":"2026-01-01T00:00:00Z","event.action":"a\/b","message":"tab\there \"q\" \u00e9 \ud83d\ude00 é","labels.k\u0065y":"v"}"#
        let event = try Event(jsonLine: line)
        #expect(event.action.rawValue == "a/b")
        #expect(event.message == "tab\there \"q\" é 😀 é")
        #expect(event.labels == ["key": "v"])
    }

    static let malformed: [(line: String, field: String?, fragment: String)] = [
        ("", nil, "empty line"),
        ("not json", nil, "not a JSON object"),
        (#"{"@timestamp":"2026-01-01T00:00:00Z""#, nil, "missing '}'"),
        (#"{"@timestamp":"2026-01-01T00:00:00Z","event.action":"a"} x"#, nil, "after the object"),
        (#"{"event.action":"a"}"#, "@timestamp", "missing"),
        (#"{"@timestamp":"2026-01-01T00:00:00Z"}"#, "event.action", "missing"),
        (#"{"@timestamp":"yesterday","event.action":"a"}"#, "@timestamp", "RFC 3339"),
        (#"{"@timestamp":"2026-02-30T00:00:00Z","event.action":"a"}"#, "@timestamp", "RFC 3339"),
        (#"{"@timestamp":"2026-01-01T00:00:00","event.action":"a"}"#, "@timestamp", "RFC 3339"),
        (#"{"@timestamp":1767225600000,"event.action":"a"}"#, "@timestamp", "must be a string"),
        (#"{"@timestamp":"2026-01-01T00:00:00Z","event.action":""}"#, "event.action", "must not be empty"),
        (#"{"@timestamp":"2026-01-01T00:00:00Z","event.action":"a","source.port":"443"}"#, "source.port", "must be a number"),
        (#"{"@timestamp":"2026-01-01T00:00:00Z","event.action":"a","source.port":70000}"#, "source.port", "not a port"),
        (#"{"@timestamp":"2026-01-01T00:00:00Z","event.action":"a","network.bytes_in":-1}"#, "network.bytes_in", "negative"),
        (#"{"@timestamp":"2026-01-01T00:00:00Z","event.action":"a","network.bytes_in":1.5}"#, "network.bytes_in", "integer"),
        (#"{"@timestamp":"2026-01-01T00:00:00Z","event.action":"a","event.duration_ms":99999999999999999999}"#, "event.duration_ms", "out of range"),
        (#"{"@timestamp":"2026-01-01T00:00:00Z","event.action":"a","event.outcome":"maybe"}"#, "event.outcome", "success, failure"),
        (#"{"@timestamp":"2026-01-01T00:00:00Z","event.action":"a","proxy.transport":"udp"}"#, "proxy.transport", "classic"),
        (#"{"@timestamp":"2026-01-01T00:00:00Z","event.action":"a","labels.x":{"y":1}}"#, "labels.x", "string, number or boolean"),
        (#"{"@timestamp":"2026-01-01T00:00:00Z","event.action":"a","message":"\x"}"#, "message", "invalid escape"),
        (#"{"@timestamp":"2026-01-01T00:00:00Z","event.action":"a","message":"\ud800"}"#, "message", "surrogate"),
        (#"{"@timestamp":"2026-01-01T00:00:00Z","event.action":"a","other":[1,2}"#, "other", "closing bracket"),
        (#"{"@timestamp":"2026-01-01T00:00:00Z","event.action":"a","other":tru}"#, "other", "invalid literal"),
        (#"{"@timestamp":"2026-01-01T00:00:00Z","event.action":"a","mt.dc":01}"#, "mt.dc", "leading zero"),
        (#"{"@timestamp":"2026-01-01T00:00:00Z","event.action":"a","message":"line"#, "message", "unterminated"),
        ("{\"@timestamp\":\"2026-01-01T00:00:00Z\",\"event.action\":\"a\",\"message\":\"tab\there\"}", "message", "control character"),
        (#"{"@timestamp":"2026-01-01T00:00:00Z","event.action":"a","deep":"# + String(repeating: "[", count: 100)
            + String(repeating: "]", count: 100) + "}", "deep", "nested deeper"),
    ]

    @Test(arguments: malformed)
    func rejectsWithFieldAndReason(line: String, field: String?, fragment: String) {
        #expect {
            _ = try Event(jsonLine: line, lineNumber: 42)
        } throws: { error in
            guard let error = error as? EventDecodingError else { return false }
            return error.line == 42 && error.field == field && error.message.contains(fragment)
                && error.description.hasPrefix("line 42: ")
        }
    }

    @Test func rejectsInvalidUTF8() {
        var bytes = Array(#"{"@timestamp":"2026-01-01T00:00:00Z","event.action":"a","message":"x"#.utf8)
        bytes += [0xC3, 0x28]
        bytes += Array(#""}"#.utf8)
        #expect(throws: EventDecodingError.self) { try Event(jsonLine: bytes) }
    }

    @Test func rejectsOverlongLines() {
        let line = #"{"@timestamp":"2026-01-01T00:00:00Z","event.action":"a","message":""# + String(repeating: "x", count: 4100) + #""}"#
        #expect(throws: EventDecodingError.self) { try Event(jsonLine: line) }
    }

    @Test func errorDescriptionNamesTheFile() {
        let error = EventDecodingError(file: "events.jsonl", line: 7, field: "source.port", message: "must be a number")
        #expect(error.description == "events.jsonl:7: source.port: must be a number")
    }

    // MARK: Properties

    @Test func randomEventsSurviveARoundTrip() throws {
        var random = SplitMix64(seed: 0x5eed)
        for _ in 0..<2000 {
            let event = Self.randomEvent(&random)
            let decoded = try Event(jsonLine: Self.encode(event))
            #expect(decoded == event)
        }
    }

    @Test func randomBytesNeverCrash() {
        var random = SplitMix64(seed: 1)
        let alphabet = Array(#"{}[]",:\"\u0 1-.eE@abcnulltruefalse"#.utf8) + [0x00, 0x0A, 0xC3, 0xFF, 0x80]
        for _ in 0..<20_000 {
            let count = Int(random.next() % 96)
            let bytes = (0..<count).map { _ -> UInt8 in
                random.next() % 4 == 0 ? UInt8(truncatingIfNeeded: random.next()) : alphabet[Int(random.next() % UInt64(alphabet.count))]
            }
            _ = try? Event(jsonLine: bytes)
        }
    }

    @Test func mutatedValidLinesNeverCrash() throws {
        var random = SplitMix64(seed: 2)
        let valid = Array(Self.full.utf8)
        var decodedSome = 0
        for _ in 0..<20_000 {
            var bytes = valid
            for _ in 0..<(1 + Int(random.next() % 4)) {
                let position = Int(random.next() % UInt64(bytes.count))
                switch random.next() % 4 {
                case 0: bytes[position] = UInt8(truncatingIfNeeded: random.next())
                case 1: bytes.remove(at: position)
                case 2: bytes.insert(UInt8(truncatingIfNeeded: random.next()), at: position)
                default: bytes.removeSubrange(position...)
                }
                if bytes.isEmpty { break }
            }
            if (try? Event(jsonLine: bytes)) != nil { decodedSome += 1 }
        }
        // Mutations inside string values still decode, so a decoder that rejects
        // everything would fail here.
        #expect(decodedSome > 100)
    }

    static func randomEvent(_ random: inout SplitMix64) -> Event {
        func maybe<T>(_ value: @autoclosure () -> T) -> T? { random.next() % 2 == 0 ? value() : nil }
        func text() -> String {
            let pool: [String] = ["a", "bad_secret", "203.0.113.7", "quote\"back\\slash", "tab\t", "é", "😀", "\u{01}", "/", ""]
            return (0..<Int(random.next() % 3 + 1)).map { _ in pool[Int(random.next() % UInt64(pool.count))] }.joined()
        }
        let stamp = Int64(random.next() % 4_000_000_000_000)
        var event = Event(timestampMilliseconds: stamp, action: EventAction(rawValue: "a" + text()))
        event.outcome = maybe(random.next() % 2 == 0 ? .success : .failure)
        event.reason = maybe(text())
        event.sourceIP = maybe(text())
        event.sourcePort = maybe(Int(random.next() % 65536))
        event.sourceIPHash = maybe(text())
        event.sourcePrefix = maybe(text())
        event.sessionID = maybe(text())
        event.instance = maybe(text())
        event.listener = maybe(text())
        event.transport = maybe(ProxyTransport.allCases[Int(random.next() % 3)])
        event.secretName = maybe(text())
        event.dc = maybe(Int(random.next() % 11) - 5)
        event.bytesIn = maybe(random.next() % 1_000_000_000)
        event.bytesOut = maybe(random.next() % 1_000_000_000)
        event.durationMilliseconds = maybe(random.next() % 1_000_000)
        event.message = maybe(text())
        if random.next() % 2 == 0 { event.labels = ["k" + text(): text(), "n": "12"] }
        return event
    }

    /// A test-local writer, independent of the production encoder, so that a shared
    /// mistake cannot hide in both directions.
    static func encode(_ event: Event) -> String {
        func quoted(_ text: String) -> String {
            var out = "\""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\t": out += "\\t"
                case _ where scalar.value < 0x20: out += "\\u00" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
                default: out.unicodeScalars.append(scalar)
                }
            }
            return out + "\""
        }
        let seconds = event.timestampMilliseconds / 1000, millis = event.timestampMilliseconds % 1000
        let days = Int(seconds / 86_400), rest = Int(seconds % 86_400)
        let (year, month, day) = civil(fromDays: days)
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let stamp = "\(year)-\(two(month))-\(two(day))T\(two(rest / 3600)):\(two(rest / 60 % 60)):\(two(rest % 60))."
            + String(repeating: "0", count: 3 - String(millis).count) + "\(millis)Z"
        var parts = ["\"@timestamp\":\"\(stamp)\"", "\"event.action\":" + quoted(event.action.rawValue)]
        func add(_ key: String, _ value: String?) { if let value { parts.append(quoted(key) + ":" + quoted(value)) } }
        func add<N: BinaryInteger>(_ key: String, _ value: N?) { if let value { parts.append("\"\(key)\":\(value)") } }
        add("event.outcome", event.outcome?.rawValue)
        add("event.reason", event.reason)
        add("source.ip", event.sourceIP)
        add("source.port", event.sourcePort)
        add("source.ip_hash", event.sourceIPHash)
        add("source.prefix", event.sourcePrefix)
        add("session.id", event.sessionID)
        add("proxy.instance", event.instance)
        add("proxy.listener", event.listener)
        add("proxy.transport", event.transport?.rawValue)
        add("mt.secret", event.secretName)
        add("mt.dc", event.dc)
        add("network.bytes_in", event.bytesIn)
        add("network.bytes_out", event.bytesOut)
        add("event.duration_ms", event.durationMilliseconds)
        add("message", event.message)
        for (key, value) in event.labels.sorted(by: { $0.key < $1.key }) { add("labels." + key, value) }
        return "{" + parts.joined(separator: ",") + "}"
    }

    static func civil(fromDays days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

/// A small deterministic generator so that a failing property run can be repeated.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
