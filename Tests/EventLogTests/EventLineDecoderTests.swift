import EventLog
import Testing

/// The line decoder's fast paths (keys and actions matched by length and a few words,
/// strings scanned eight bytes at a time, the date of the last timestamp remembered) must
/// accept and reject exactly what a byte-by-byte reading of the schema would.
@Suite struct EventLineDecoderTests {
    static let keys = [
        "@timestamp", "event.action", "event.outcome", "event.reason", "source.ip", "source.port", "source.ip_hash",
        "source.prefix", "session.id", "proxy.instance", "proxy.listener", "proxy.transport", "mt.secret", "mt.dc",
        "network.bytes_in", "network.bytes_out", "event.duration_ms", "message", "schema.version",
    ]

    static func decode(_ bytes: [UInt8], with decoder: inout EventLineDecoder) -> Result<Event, EventDecodingError> {
        bytes.withUnsafeBufferPointer { buffer in
            do throws(EventDecodingError) {
                return .success(try decoder.decode(buffer, lineNumber: 3))
            } catch {
                return .failure(error)
            }
        }
    }

    static func decode(_ text: String, keeping fields: EventFieldSet = .all) -> Result<Event, EventDecodingError> {
        var decoder = EventLineDecoder(keeping: fields)
        return decode(Array(text.utf8), with: &decoder)
    }

    /// Every known key takes no object; an unknown key takes anything. So a line with an
    /// object under a key says whether the decoder recognised that key. With the key near
    /// the end of the line and far from it, as the decoder reads a key that has many bytes
    /// after it without looking for its end first.
    static func recognises(_ key: [UInt8]) -> Bool {
        let start = Array(#"{"@timestamp":"2026-05-01T00:00:00.000Z","event.action":"a","#.utf8) + [UInt8(ascii: "\"")] + key
        var near = EventLineDecoder(), far = EventLineDecoder()
        let nearEnd = (try? decode(start + Array(#"":{}}"#.utf8), with: &near).get()) == nil
        let farFromEnd = (try? decode(start + Array(#"":{"x":[1],"padding":"........................"}}"#.utf8), with: &far).get()) == nil
        #expect(nearEnd == farFromEnd, "\(String(decoding: key, as: UTF8.self))")
        return nearEnd
    }

    @Test func everyKeyIsRecognisedAndNoKeyOneByteAway() {
        for key in Self.keys {
            let bytes = Array(key.utf8)
            #expect(Self.recognises(bytes), "\(key)")
            for position in bytes.indices {
                for replacement in [UInt8(ascii: "a"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "s"), UInt8(ascii: "z"), 0xC3] {
                    guard replacement != bytes[position] else { continue }
                    var mutated = bytes
                    mutated[position] = replacement
                    if replacement == 0xC3 { mutated.insert(0xA9, at: position + 1) }
                    #expect(!Self.recognises(mutated), "\(String(decoding: mutated, as: UTF8.self))")
                }
            }
            #expect(!Self.recognises(Array(bytes.dropLast())), "\(key) less its last byte")
            #expect(!Self.recognises(bytes + [UInt8(ascii: "x")]), "\(key) and one more byte")
        }
        // Lengths with no key, short and long.
        for count in [0, 1, 4, 6, 8, 18, 24, 40] {
            #expect(!Self.recognises(Array(repeating: UInt8(ascii: "e"), count: count)))
        }
        #expect(Self.recognises(Array("labels.x".utf8)))
        #expect(!Self.recognises(Array("labelz.x".utf8)))
    }

    static let actions: [EventAction] = [
        .proxyStarted, .proxyStopped, .configReloaded, .configRejected, .blocklistReloaded, .connectionAccepted,
        .connectionRejected, .handshakeSucceeded, .handshakeFailed, .probeForwarded, .upstreamFailed, .sessionClosed,
        .eventsDropped, .secretRotated, .secretRetired,
    ]

    @Test func actionsOneByteAwayFromTheVocabularyKeepTheirOwnName() throws {
        for action in Self.actions {
            let name = Array(action.rawValue.utf8)
            for position in name.indices {
                for replacement in [UInt8(ascii: "a"), UInt8(ascii: "e"), UInt8(ascii: "o"), UInt8(ascii: "-")] where replacement != name[position] {
                    var mutated = name
                    mutated[position] = replacement
                    let text = String(decoding: mutated, as: UTF8.self)
                    let event = try Self.decode(#"{"@timestamp":"2026-05-01T00:00:00.000Z","event.action":"\#(text)"}"#, keeping: []).get()
                    #expect(event.action.rawValue == text)
                }
            }
            let event = try Self.decode(#"{"@timestamp":"2026-05-01T00:00:00.000Z","event.action":"\#(action.rawValue)"}"#, keeping: []).get()
            #expect(event.action == action)
        }
    }

    /// One special byte at every position of strings of every length around the eight-byte
    /// steps of the scanner, in a kept field and in one that is only checked.
    @Test(arguments: [EventFieldSet.all, []])
    func stringsAreScannedAlikeAtEveryOffset(fields: EventFieldSet) throws {
        for length in 0..<34 {
            for position in 0...length {
                let before = String(repeating: "a", count: position), after = String(repeating: "b", count: length - position)
                func line(_ middle: String) -> String {
                    #"{"@timestamp":"2026-05-01T00:00:00.000Z","event.action":"a","event.reason":"\#(before)\#(middle)\#(after)","x":1}"#
                }
                let plain = try Self.decode(line(""), keeping: fields).get()
                #expect(plain.reason == (fields.contains(.reason) ? before + after : nil))
                let escaped = try Self.decode(line(#"\"\\"#), keeping: fields).get()
                #expect(escaped.reason == (fields.contains(.reason) ? before + "\"\\" + after : nil))
                let accented = try Self.decode(line("é"), keeping: fields).get()
                #expect(accented.reason == (fields.contains(.reason) ? before + "é" + after : nil))
                let control = Self.decode(line("\u{1F}"), keeping: fields)
                #expect(throws: EventDecodingError.self) { try control.get() }
                let invalid = Array(#"{"@timestamp":"2026-05-01T00:00:00.000Z","event.action":"a","event.reason":""#.utf8)
                    + Array(before.utf8) + [0xFF] + Array(after.utf8) + Array(#"","x":1}"#.utf8)
                var decoder = EventLineDecoder(keeping: fields)
                let rejected = Self.decode(invalid, with: &decoder)
                #expect(throws: EventDecodingError.self) { try rejected.get() }
                // The same bytes as a key: an unknown key of that text is skipped.
                let asKey = #"{"@timestamp":"2026-05-01T00:00:00.000Z","event.action":"a","\#(before)é\#(after)":1}"#
                _ = try Self.decode(asKey, keeping: fields).get()
            }
        }
    }

    @Test func oneDecoderReadsALogWhoseDateChanges() throws {
        var decoder = EventLineDecoder(keeping: [])
        let stamps: [(String, Int64?)] = [
            ("2026-05-01T23:59:59.999Z", 1_777_679_999_999),
            ("2026-05-01T00:00:00.000Z", 1_777_593_600_000),
            ("2026-05-02T00:00:00.001Z", 1_777_680_000_001),
            ("2026-05-02T00:00:00.001+02:00", 1_777_672_800_001),
            ("2026-05-02X00:00:00.001Z", nil),
            ("2026-05-02T24:00:00.000Z", nil),
            ("2026-05-02T00:00:00.000", nil),
            ("2026-05-0", nil),
            ("2026-05-", nil),
            ("2026-02-29T00:00:00Z", nil),
            ("2026-02-28T00:00:00Z", 1_772_236_800_000),
            ("2026-02-28", nil),
            ("2026-02-28T00:00:00Z", 1_772_236_800_000),
            ("2028-02-29T00:00:00Z", 1_835_395_200_000),
        ]
        for (stamp, expected) in stamps {
            let line = Array(#"{"@timestamp":"\#(stamp)","event.action":"a"}"#.utf8)
            let shared = Self.decode(line, with: &decoder)
            var fresh = EventLineDecoder(keeping: [])
            let alone = Self.decode(line, with: &fresh)
            if let expected {
                #expect(try shared.get().timestampMilliseconds == expected, "\(stamp)")
            } else {
                #expect(throws: EventDecodingError.self, "\(stamp)") { try shared.get() }
            }
            switch (shared, alone) {
            case (.success(let one), .success(let other)): #expect(one == other)
            case (.failure(let one), .failure(let other)): #expect(one == other)
            default: Issue.record("a decoder that read earlier lines disagrees on \(stamp)")
            }
        }
    }

    /// A long run of random lines, valid and mutated, through one decoder into one event
    /// gives what a fresh decoder gives for each line alone: nothing carried from line to
    /// line changes a result.
    @Test func aSharedDecoderAgreesWithAFreshOneOnEveryLine() {
        var random = SplitMix64(seed: 0xdec0de)
        let fields = EventFieldSet(rawValue: EventFieldSet.all.rawValue & 0b1_0101_0101_0111)
        var shared = EventLineDecoder(keeping: fields)
        // One event decoded into again and again, as `mtauditor replay` does: no field of
        // an earlier line may survive into a later one.
        var reused = Event(timestampMilliseconds: 0, action: "")
        var accepted = 0, rejected = 0
        for _ in 0..<10_000 {
            let event = EventDecodingTests.randomEvent(&random)
            var bytes = Array(EventDecodingTests.encode(event).utf8)
            if random.next() % 3 == 0, !bytes.isEmpty {
                // Mutations aimed at the timestamp, whose date is what a decoder remembers.
                let position = min(15 + Int(random.next() % 24), bytes.count - 1)
                bytes[position] = [UInt8(ascii: "0"), UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "T")][Int(random.next() % 4)]
            }
            var fresh = EventLineDecoder(keeping: fields)
            let reusing = bytes.withUnsafeBufferPointer { buffer -> Result<Event, EventDecodingError> in
                do throws(EventDecodingError) {
                    try shared.decode(buffer, lineNumber: 3, into: &reused)
                    return .success(reused)
                } catch {
                    return .failure(error)
                }
            }
            switch (reusing, Self.decode(bytes, with: &fresh)) {
            case (.success(let one), .success(let other)):
                accepted += 1
                #expect(one == other)
            case (.failure(let one), .failure(let other)):
                rejected += 1
                #expect(one == other)
            default:
                Issue.record("disagree on \(String(decoding: bytes, as: UTF8.self))")
            }
        }
        #expect(accepted > 1000)
        #expect(rejected > 100)
    }

    /// Counts read in one pass must agree with the JSON grammar and the checked path.
    @Test(arguments: [
        ("0", UInt64?(0)), ("7", 7), ("10", 10), ("00", nil), ("01", nil), ("123456789012345678", 123_456_789_012_345_678),
        ("1234567890123456789", nil), ("1.0", nil), ("1e2", nil), ("1E2", nil), ("-0", 0), ("-5", nil), ("0.5", nil),
        ("5.", nil), ("5e", nil), ("5 ", 5), ("5x", nil), ("", nil), ("\"5\"", nil),
    ])
    func countsAreReadAsTheGrammarSays(text: String, expected: UInt64?) {
        for line in [#"{"@timestamp":"2026-05-01T00:00:00.000Z","event.action":"a","network.bytes_in":\#(text)}"#,
                     #"{"network.bytes_in":\#(text),"@timestamp":"2026-05-01T00:00:00.000Z","event.action":"a"}"#] {
            let result = Self.decode(line)
            if let expected {
                #expect((try? result.get())?.bytesIn == expected, "\(line)")
            } else {
                #expect(throws: EventDecodingError.self, "\(line)") { try result.get() }
            }
        }
    }

    /// Fewer fields for the lines of some actions: a line of such an action keeps only
    /// those (and what the decoder keeps at all), other lines keep `fields`; the line is
    /// checked in full either way.
    @Test func fieldsByActionKeepsFewerFieldsForThoseActions() throws {
        var decoder = EventLineDecoder(keeping: [.reason, .sourceIP, .sourceIPHash, .sourcePrefix])
        decoder.fieldsByAction = [.sessionClosed: [], .connectionAccepted: [.sourceIPHash, .outcome]]
        func decode(_ text: String) throws -> Event {
            var line = Array(text.utf8)
            return try line.withUnsafeMutableBufferPointer { bytes throws(EventDecodingError) in
                try decoder.decode(UnsafeBufferPointer(bytes))
            }
        }
        let hash = "00112233445566778899aabbccddeeff"
        let closed = try decode(#"{"@timestamp":"2026-06-01T00:00:00.014Z","event.action":"session.closed","source.ip_hash":"\#(hash)","source.prefix":"100.66.241.0/24","event.reason":"client_closed","schema.version":1}"#)
        #expect(closed.action == .sessionClosed && closed.sourceIPHash == nil && closed.sourcePrefix == nil && closed.reason == nil)
        #expect(closed.timestampMilliseconds == 1_780_272_000_014)
        let accepted = try decode(#"{"@timestamp":"2026-06-01T00:00:00.014Z","event.action":"connection.accepted","event.outcome":"success","source.ip_hash":"\#(hash)","source.prefix":"100.66.241.0/24","schema.version":1}"#)
        #expect(accepted.sourceIPHash == hash && accepted.sourcePrefix == nil, "only what both sets hold")
        #expect(accepted.outcome == nil, "not kept by the decoder at all")
        let failed = try decode(#"{"@timestamp":"2026-06-01T00:00:00.014Z","event.action":"handshake.failed","event.reason":"bad_secret","source.ip":"203.0.113.7","source.prefix":"203.0.113.0/24","schema.version":1}"#)
        #expect(failed.reason == "bad_secret" && failed.sourceIP == "203.0.113.7" && failed.sourcePrefix == "203.0.113.0/24")
        // Still checked in full: a bad value of a field not kept is an error.
        #expect(throws: EventDecodingError.self) {
            try decode(#"{"@timestamp":"2026-06-01T00:00:00.014Z","event.action":"session.closed","source.port":70000,"schema.version":1}"#)
        }
    }
}
