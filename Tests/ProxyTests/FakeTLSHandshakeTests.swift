import NIOCore
import Testing
@testable import Proxy

@Suite struct FakeTLSHandshakeTests {
    static let key = [UInt8](hex: "00112233445566778899aabbccddeeff")!
    static let secret = ProxySecret(name: "main", form: .faketls, key: key, domain: "www.example.com")
    static let unixTime: Int64 = 1_790_000_000
    static let now = NIODeadline.uptimeNanoseconds(5_000_000_000)

    static func run(_ wire: [UInt8], split: Int, filter: ReplayFilter, settings: FakeTLSSettings = FakeTLSSettings()) -> FakeTLSHandshake.Action {
        var handshake = FakeTLSHandshake(secrets: [secret], settings: settings, replayFilter: filter)
        guard case .readMore = handshake.received(ByteBuffer(bytes: wire[0..<split]), unixTime: unixTime, now: now) else {
            Issue.record("decided on a partial hello")
            return .readMore
        }
        return handshake.received(ByteBuffer(bytes: wire[split...]), unixTime: unixTime, now: now)
    }

    @Test func acceptsOnceThenRefusesTheReplay() throws {
        let filter = ReplayFilter()
        let wire = FakeTLSClient.makeHello(key: Self.key, domain: "www.example.com", unixTime: UInt32(Self.unixTime))
        guard case .reply(let flight, let hello, let trailing) = Self.run(wire, split: 1000, filter: filter) else {
            Issue.record("a fresh hello is answered")
            return
        }
        #expect(trailing.readableBytes == 0)
        #expect(hello.secret.name == "main")
        #expect(FakeTLSClient.checkFlight(flight, clientRandom: Array(wire[11..<43]), key: Self.key) == .verified(length: flight.count))
        guard case .fail(let reason, let secret, let consumed) = Self.run(wire, split: 7, filter: filter) else {
            Issue.record("the same hello again is a replay")
            return
        }
        #expect(reason == "replay")
        #expect(secret?.name == "main")
        #expect(Array(buffer: consumed) == wire)
    }

    /// The timestamp is XORed in the clear: flipping its low bit keeps the digest valid
    /// and the time in the window, yet it must still count as the same hello.
    @Test func aReplayWithAnAlteredTimestampIsStillAReplay() {
        let filter = ReplayFilter()
        let wire = FakeTLSClient.makeHello(key: Self.key, domain: "www.example.com", unixTime: UInt32(Self.unixTime))
        guard case .reply = Self.run(wire, split: 50, filter: filter) else {
            Issue.record("a fresh hello is answered")
            return
        }
        var altered = wire
        altered[39] ^= 0x01
        guard case .fail("replay", _, _) = Self.run(altered, split: 50, filter: filter) else {
            Issue.record("a one-second shift of the timestamp is the same hello")
            return
        }
    }

    @Test func refusedHellosNeverReachTheFilter() {
        let filter = ReplayFilter()
        let wire = FakeTLSClient.makeHello(key: Self.key, domain: "www.example.com", unixTime: UInt32(Self.unixTime - 30))
        var strict = FakeTLSSettings()
        strict.maximumTimestampLag = 10
        guard case .fail("tls_skew", _, _) = Self.run(wire, split: 100, filter: filter, settings: strict) else {
            Issue.record("30 s behind a 10 s window")
            return
        }
        #expect(filter.count == 0)
        guard case .reply = Self.run(wire, split: 100, filter: filter) else {
            Issue.record("the refused attempt left no trace in the filter")
            return
        }
    }

    @Test func classifiesWhatIsNotAHello() {
        let filter = ReplayFilter()
        var handshake = FakeTLSHandshake(secrets: [Self.secret], settings: FakeTLSSettings(), replayFilter: filter)
        guard case .notTLS(let consumed) = handshake.received(ByteBuffer(string: "GET / HTTP/1.1\r\n"), unixTime: Self.unixTime, now: Self.now) else {
            Issue.record("HTTP is not TLS")
            return
        }
        #expect(consumed.readableBytes == 16)

        var wire = FakeTLSClient.makeHello(key: Self.key, domain: "www.example.com", unixTime: UInt32(Self.unixTime), shape: .legacy)
        wire[300] ^= 0xff
        guard case .fail("tls_digest", nil, let all) = Self.run(wire + [1, 2, 3], split: 5, filter: filter) else {
            Issue.record("a changed byte breaks the digest")
            return
        }
        #expect(Array(buffer: all) == wire + [1, 2, 3], "trailing bytes are fronted too")

        wire[5] = 0x02
        guard case .fail("malformed", nil, _) = Self.run(wire, split: 5, filter: filter) else {
            Issue.record("a ServerHello type is malformed")
            return
        }
        #expect(filter.count == 0)
    }
}
