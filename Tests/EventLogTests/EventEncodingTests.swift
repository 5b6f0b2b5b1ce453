@testable import EventLog
import Foundation
import Testing

@Suite struct EventEncodingTests {
    static let everyField = Event(
        timestampMilliseconds: 1_700_006_400_123,
        action: .sessionClosed, outcome: .success, reason: "client_closed",
        sourceIP: "203.0.113.7", sourcePort: 51000,
        sourceIPHash: "00112233445566778899aabbccddeeff", sourcePrefix: "203.0.113.0/24",
        sessionID: "a1b2c3d4", instance: "vps1", listener: "0.0.0.0:443",
        transport: .faketls, secretName: "main", dc: -2,
        bytesIn: 1024, bytesOut: 2048, durationMilliseconds: 3000,
        message: "Session closed.", labels: ["zeta": "z", "alpha": "a"])

    @Test func everyFieldInTheDocumentedOrder() {
        let line = String(decoding: Self.everyField.jsonLine(), as: UTF8.self)
        #expect(line == """
            {"@timestamp":"2023-11-15T00:00:00.123Z","event.action":"session.closed","event.outcome":"success",\
            "event.reason":"client_closed","source.ip":"203.0.113.7","source.port":51000,\
            "source.ip_hash":"00112233445566778899aabbccddeeff","source.prefix":"203.0.113.0/24",\
            "session.id":"a1b2c3d4","proxy.instance":"vps1","proxy.listener":"0.0.0.0:443",\
            "proxy.transport":"faketls","mt.secret":"main","mt.dc":-2,"network.bytes_in":1024,\
            "network.bytes_out":2048,"event.duration_ms":3000,"message":"Session closed.",\
            "labels.alpha":"a","labels.zeta":"z","schema.version":1}

            """)
    }

    @Test func absentFieldsAreNotWritten() {
        let line = String(decoding: Event(timestampMilliseconds: 0, action: .proxyStarted).jsonLine(), as: UTF8.self)
        #expect(line == "{\"@timestamp\":\"1970-01-01T00:00:00.000Z\",\"event.action\":\"proxy.started\",\"schema.version\":1}\n")
    }

    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00.000Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
        (951_782_400_000, "2000-02-29T00:00:00.000Z"),
        (1_709_251_199_999, "2024-02-29T23:59:59.999Z"),
        (4_102_444_800_000, "2100-01-01T00:00:00.000Z"),
        (Int64.max, "9999-12-31T23:59:59.999Z"),
        (Int64.min, "0000-01-01T00:00:00.000Z"),
    ])
    func timestamps(milliseconds: Int64, text: String) throws {
        let object = try Self.parse(Event(timestampMilliseconds: milliseconds, action: .proxyStarted).jsonLine())
        #expect(object["@timestamp"] as? String == text)
    }

    @Test func timestampsAgreeWithFoundation() throws {
        var random = SplitMix64(seed: 42)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        for _ in 0..<500 {
            // 1900…2200
            let milliseconds = Int64(random.next() % 9_467_280_000_000) - 2_208_988_800_000
            let object = try Self.parse(Event(timestampMilliseconds: milliseconds, action: .proxyStarted).jsonLine())
            let text = try #require(object["@timestamp"] as? String)
            let date = try #require(formatter.date(from: text))
            #expect(Int64((date.timeIntervalSince1970 * 1000).rounded()) == milliseconds, "\(text)")
        }
    }

    @Test func stringsAreEscapedAndRoundTrip() throws {
        let nasty = "quote\" backslash\\ nl\n cr\r tab\t bs\u{08} ff\u{0C} nul\u{00} esc\u{1B} del\u{7F} é€😀 \u{2028}"
        let line = Event(timestampMilliseconds: 0, action: .configRejected, message: nasty).jsonLine()
        #expect(line.filter { $0 == UInt8(ascii: "\n") }.count == 1)
        #expect(!line.dropLast().contains(where: { $0 < 0x20 }))
        let text = String(decoding: line, as: UTF8.self)
        #expect(text.contains(#"quote\" backslash\\ nl\n cr\r tab\t bs\b ff\f nul\u0000 esc\u001b del\u007f"#))
        #expect(try Self.parse(line)["message"] as? String == nasty)
    }

    @Test func invalidUTF8BecomesReplacementCharacters() throws {
        let message = String(decoding: [0x61, 0xFF, 0xC3, 0x28, 0x62], as: UTF8.self)
        let line = Event(timestampMilliseconds: 0, action: .configRejected, message: message).jsonLine()
        #expect(String(validating: line, as: UTF8.self) != nil)
        #expect(try Self.parse(line)["message"] as? String == "a\u{FFFD}\u{FFFD}(b")
    }

    @Test func oversizeTextIsCutNeverTheStructure() throws {
        var event = Self.everyField
        event.message = String(repeating: "éx", count: 3000)
        event.labels["detail"] = String(repeating: "y", count: 10_000)
        let line = event.jsonLine()
        #expect(line.count <= Event.maximumLineBytes)
        #expect(line.last == UInt8(ascii: "\n"))
        let object = try Self.parse(line)
        #expect(object["source.ip"] as? String == "203.0.113.7")
        #expect(object["network.bytes_out"] as? Int == 2048)
        #expect(object["schema.version"] as? Int == 1)
        #expect(object["labels.alpha"] as? String == "a")
        let message = try #require(object["message"] as? String)
        let detail = try #require(object["labels.detail"] as? String)
        #expect(message.hasSuffix("…") && detail.hasSuffix("…"))
        #expect(event.message!.hasPrefix(message.dropLast()))
        // The long values share what is left about equally.
        #expect(abs(message.utf8.count - detail.utf8.count) < 64)
        #expect(line.count > Event.maximumLineBytes - 16)
    }

    @Test func tooManyLabelsLoseLabelsNotTheLine() throws {
        var event = Self.everyField
        for index in 0..<400 {
            event.labels["key_\(String(repeating: "k", count: 40))_\(index)"] = "v"
        }
        let line = event.jsonLine()
        #expect(line.count <= Event.maximumLineBytes)
        let object = try Self.parse(line)
        #expect(object["event.action"] as? String == "session.closed")
        #expect(object["message"] as? String == "Session closed.")
    }

    @Test func randomEventsAreValidBoundedJSON() throws {
        var random = SplitMix64(seed: 7)
        for round in 0..<600 {
            let event = Self.randomEvent(&random)
            var buffer: [UInt8] = [0x41]
            event.appendJSONLine(to: &buffer)
            let line = Array(buffer.dropFirst())
            #expect(line == event.jsonLine())
            #expect(line.count <= Event.maximumLineBytes, "round \(round)")
            #expect(line.last == UInt8(ascii: "\n"))
            #expect(line.filter { $0 == UInt8(ascii: "\n") }.count == 1)
            let object = try Self.parse(line)
            #expect((object["source.port"] as? NSNumber)?.int64Value == event.sourcePort.map(Int64.init))
            #expect((object["network.bytes_in"] as? NSNumber)?.uint64Value == event.bytesIn)
            #expect((object["event.duration_ms"] as? NSNumber)?.uint64Value == event.durationMilliseconds)
            #expect(object["schema.version"] as? Int == Event.schemaVersion)
            // Well under the limit nothing was cut and no label was dropped.
            if line.count < 3000 {
                #expect(object["event.action"] as? String == event.action.rawValue)
                #expect(object["message"] as? String == event.message)
                #expect(object["event.reason"] as? String == event.reason)
                #expect(object.keys.filter { $0.hasPrefix("labels.") }.count == event.labels.count)
            }
        }
    }

    /// The writer's fast path for label-free events that cannot overflow must write
    /// exactly what the general field encoder writes, escapes and absent fields included.
    @Test func fastPathWritesWhatTheFieldEncoderWrites() throws {
        var random = SplitMix64(seed: 11)
        var shortLines = 0
        for round in 0..<600 {
            var event = Self.randomEvent(&random)
            event.labels = [:]
            if round % 3 == 0 {
                event.message = Self.randomText(&random, maximumLength: 12)
                event.reason = Self.randomText(&random, maximumLength: 12)
            }
            var general: [UInt8] = []
            event.appendJSONLineByFields(to: &general)
            #expect(event.jsonLine() == general, "round \(round)")
            if general.count < 1000 { shortLines += 1 }
        }
        var plain = Self.everyField
        plain.labels = [:]
        var general: [UInt8] = []
        plain.appendJSONLineByFields(to: &general)
        #expect(plain.jsonLine() == general)
        #expect(shortLines > 100)
    }

    static func parse(_ line: [UInt8]) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(line))
        return try #require(object as? [String: Any])
    }

    static func randomText(_ random: inout SplitMix64, maximumLength: Int) -> String {
        let pieces = ["a", "Z", "0", " ", "\"", "\\", "\n", "\u{00}", "\u{1F}", "\u{7F}", "é", "€", "😀", "/", "\u{2028}"]
        let length = Int(random.next() % UInt64(maximumLength + 1))
        var text = ""
        for _ in 0..<length { text += pieces[Int(random.next() % UInt64(pieces.count))] }
        if random.next() % 8 == 0 {
            text += String(decoding: (0..<4).map { _ in UInt8(truncatingIfNeeded: random.next()) }, as: UTF8.self)
        }
        return text
    }

    static func randomEvent(_ random: inout SplitMix64) -> Event {
        let present = (0..<15).map { _ in random.next() % 3 != 0 }
        let long = random.next() % 4 == 0
        let textLength = long ? 3000 : 20
        var event = Event(timestampMilliseconds: Int64(bitPattern: random.next()),
                          action: EventAction(rawValue: randomText(&random, maximumLength: long ? 200 : 20)))
        if present[0] { event.outcome = EventOutcome.allCases[Int(random.next() % 2)] }
        if present[1] { event.reason = randomText(&random, maximumLength: textLength) }
        if present[2] { event.sourceIP = randomText(&random, maximumLength: 40) }
        if present[3] { event.sourcePort = Int(Int64(bitPattern: random.next())) }
        if present[4] { event.sourceIPHash = randomText(&random, maximumLength: 32) }
        if present[5] { event.sourcePrefix = randomText(&random, maximumLength: 40) }
        if present[6] { event.sessionID = randomText(&random, maximumLength: textLength) }
        if present[7] { event.instance = randomText(&random, maximumLength: textLength) }
        if present[8] { event.transport = ProxyTransport.allCases[Int(random.next() % 3)] }
        if present[9] { event.secretName = randomText(&random, maximumLength: textLength) }
        if present[10] { event.dc = Int(Int16(truncatingIfNeeded: random.next())) }
        if present[11] { event.bytesIn = random.next() }
        if present[12] { event.bytesOut = random.next() }
        if present[13] { event.durationMilliseconds = random.next() }
        if present[14] { event.message = randomText(&random, maximumLength: textLength) }
        for _ in 0..<Int(random.next() % (long ? 40 : 4)) {
            event.labels[randomText(&random, maximumLength: 30)] = randomText(&random, maximumLength: long ? 300 : 20)
        }
        return event
    }

    /// Numbers are written as Swift spells them, at the limits and between.
    @Test func decimalsAreSpelledAsSwiftSpellsThem() {
        var random = SystemRandomNumberGenerator()
        let numbers: [Int64] = [0, 1, 9, 10, 99, 100, -1, -9, -10, .min, .max, .min + 1, .max - 1]
            + (0..<2_000).map { _ in Int64.random(in: .min ... .max, using: &random) >> Int64.random(in: 0...63, using: &random) }
        for number in numbers {
            var bytes: [UInt8] = [7]
            JSONText.appendDecimal(number, to: &bytes)
            #expect(bytes == [7] + Array(String(number).utf8))
        }
    }
}
