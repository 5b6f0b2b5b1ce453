import EventLog
import Testing

/// `Event(jsonLine:keeping:)` must accept and reject exactly the lines the full decoder
/// does, and give the same event less the fields not kept.
@Suite struct EventFieldSetTests {
    static let known: [EventAction] = [.handshakeFailed, .connectionAccepted, .sessionClosed, .probeForwarded, .eventsDropped]

    static func restricted(_ event: Event, to fields: EventFieldSet) -> Event {
        var event = event
        if !fields.contains(.outcome) { event.outcome = nil }
        if !fields.contains(.reason) { event.reason = nil }
        if !fields.contains(.sourceIP) { event.sourceIP = nil }
        if !fields.contains(.sourcePort) { event.sourcePort = nil }
        if !fields.contains(.sourceIPHash) { event.sourceIPHash = nil }
        if !fields.contains(.sourcePrefix) { event.sourcePrefix = nil }
        if !fields.contains(.sessionID) { event.sessionID = nil }
        if !fields.contains(.instance) { event.instance = nil }
        if !fields.contains(.listener) { event.listener = nil }
        if !fields.contains(.transport) { event.transport = nil }
        if !fields.contains(.secretName) { event.secretName = nil }
        if !fields.contains(.dc) { event.dc = nil }
        if !fields.contains(.bytesIn) { event.bytesIn = nil }
        if !fields.contains(.bytesOut) { event.bytesOut = nil }
        if !fields.contains(.duration) { event.durationMilliseconds = nil }
        if !fields.contains(.message) { event.message = nil }
        if !fields.contains(.labels) { event.labels = [:] }
        return event
    }

    static func decode(_ bytes: [UInt8], keeping fields: EventFieldSet?) -> Result<Event, EventDecodingError> {
        bytes.withUnsafeBufferPointer { buffer in
            do throws(EventDecodingError) {
                if let fields { return .success(try Event(jsonLine: buffer, lineNumber: 7, keeping: fields)) }
                return .success(try Event(jsonLine: buffer, lineNumber: 7))
            } catch {
                return .failure(error)
            }
        }
    }

    @Test func randomValidLinesDecodeAlikeLessTheFieldsNotKept() throws {
        var random = SplitMix64(seed: 0xf1e1d5)
        for _ in 0..<3000 {
            var event = EventDecodingTests.randomEvent(&random)
            if random.next() % 2 == 0 { event.action = Self.known[Int(random.next() % UInt64(Self.known.count))] }
            let fields = EventFieldSet(rawValue: UInt32(truncatingIfNeeded: random.next()) & EventFieldSet.all.rawValue)
            let line = Array(EventDecodingTests.encode(event).utf8)
            let full = try Self.decode(line, keeping: nil).get()
            #expect(full == event)
            let partial = try Self.decode(line, keeping: fields).get()
            #expect(partial == Self.restricted(full, to: fields), "fields \(fields.rawValue): \(String(decoding: line, as: UTF8.self))")
            #expect(try Self.decode(line, keeping: .all).get() == full)
        }
    }

    @Test(arguments: [EventAction.proxyStarted, .proxyStopped, .configReloaded, .configRejected, .blocklistReloaded,
                      .connectionAccepted, .connectionRejected, .handshakeSucceeded, .handshakeFailed, .probeForwarded,
                      .upstreamFailed, .sessionClosed, .eventsDropped, .secretRotated, "handshake.failedx", "probe"])
    func everyActionDecodesToItself(action: EventAction) throws {
        let line = Array(#"{"@timestamp":"2026-05-01T00:00:00.000Z","event.action":"\#(action.rawValue)"}"#.utf8)
        #expect(try Self.decode(line, keeping: []).get().action.rawValue == action.rawValue)
        #expect(try Self.decode(line, keeping: nil).get().action.rawValue == action.rawValue)
    }

    @Test func mutatedLinesAreRejectedAlikeAndNeverCrash() {
        var random = SplitMix64(seed: 0xbad)
        var rejected = 0, accepted = 0
        for _ in 0..<20_000 {
            var event = EventDecodingTests.randomEvent(&random)
            if random.next() % 2 == 0 { event.action = Self.known[Int(random.next() % UInt64(Self.known.count))] }
            var bytes = Array(EventDecodingTests.encode(event).utf8)
            for _ in 0..<(1 + Int(random.next() % 3)) where !bytes.isEmpty {
                let position = Int(random.next() % UInt64(bytes.count))
                switch random.next() % 4 {
                case 0: bytes[position] = UInt8(truncatingIfNeeded: random.next())
                case 1: bytes.remove(at: position)
                case 2: bytes.insert([UInt8(ascii: "\""), UInt8(ascii: "\\"), 0xC3, 0xFF, 0x01, UInt8(ascii: "n")][Int(random.next() % 6)], at: position)
                default: bytes.removeSubrange(position...)
                }
            }
            let fields = EventFieldSet(rawValue: UInt32(truncatingIfNeeded: random.next()) & EventFieldSet.all.rawValue)
            switch (Self.decode(bytes, keeping: nil), Self.decode(bytes, keeping: fields)) {
            case (.success(let full), .success(let partial)):
                accepted += 1
                #expect(partial == Self.restricted(full, to: fields))
            case (.failure(let full), .failure(let partial)):
                rejected += 1
                #expect(full == partial)
            case (let full, let partial):
                Issue.record("disagree on \(String(decoding: bytes, as: UTF8.self)): \(full) vs \(partial)")
            }
        }
        #expect(accepted > 100)
        #expect(rejected > 100)
    }
}
