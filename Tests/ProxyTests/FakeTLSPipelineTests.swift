import EventLog
import MTCrypto
import NIOCore
import NIOEmbedded
import Testing
@testable import Proxy

/// The fake-TLS listener pipeline on `EmbeddedChannel`s: ClientHelloHandler, the record
/// layer, the obfuscated2 handshake inside, and fronting for everything refused.
@Suite struct FakeTLSPipelineTests {
    static let tls = ProxySecret(name: "tls", form: .faketls, key: [UInt8](hex: "0123456789abcdef0123456789abcdef")!, domain: "www.example.com")
    static let unixTime: UInt32 = 1_790_000_000

    static func configuration(transports: Set<ProxyTransport> = [.classic, .secure, .faketls]) -> ProxyConfiguration {
        var configuration = TestSecrets.configuration()
        configuration.secrets = [TestSecrets.main, tls]
        configuration.transports = transports
        configuration.fronting.host = "127.0.0.1"
        configuration.fronting.port = 8444
        return configuration
    }

    final class Fixture {
        let loop = EmbeddedEventLoop()
        let client: EmbeddedChannel
        let sink = RecordingEventSink()
        let stats = ProxyStats(startedAtMilliseconds: 0)
        let connector: EmbeddedConnector
        let fronting: EmbeddedConnector
        let session: ProxySession

        /// - Parameter settings: shared between fixtures to share a replay filter.
        init(settings: ProxySettings = ProxySettings(FakeTLSPipelineTests.configuration())) throws {
            client = EmbeddedChannel(loop: loop)
            connector = EmbeddedConnector(loop: loop)
            fronting = EmbeddedConnector(loop: loop)
            session = ProxySession(
                settings: settings, events: sink, stats: stats,
                clock: ProxyClock { Int64(FakeTLSPipelineTests.unixTime) * 1000 + 250 },
                source: IPAddress("192.0.2.9")!, sourcePort: 40001, listener: "test", clientChannel: client
            )
            let session = self.session
            client.closeFuture.assumeIsolated().whenComplete { _ in session.finish(defaultReason: "client_closed") }
            let route = FrontingRoute(session: session, targets: settings.frontingTargets ?? [], connector: fronting)
            let first: ChannelHandler = settings.acceptsFakeTLS
                ? ClientHelloHandler(session: session, deadline: loop.now + settings.handshakeTimeout, connector: connector, failureRoute: route)
                : HandshakeHandler(session: session, deadline: loop.now + settings.handshakeTimeout, connector: connector, failureRoute: route)
            try client.pipeline.syncOperations.addHandler(first)
            try client.connect(to: SocketAddress(ipAddress: "192.0.2.9", port: 40001)).wait()
        }

        func outbound(_ channel: EmbeddedChannel) throws -> [UInt8] {
            var all: [UInt8] = []
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { all += buffer.bytes }
            return all
        }
    }

    static func hello(key: [UInt8] = tls.key, unixTime: UInt32 = unixTime, shape: FakeTLSClient.HelloShape = .current) -> [UInt8] {
        FakeTLSClient.makeHello(key: key, domain: "www.example.com", unixTime: unixTime, shape: shape)
    }

    static func applicationData(_ payload: [UInt8]) -> [UInt8] {
        [0x17, 0x03, 0x03, UInt8(payload.count >> 8), UInt8(payload.count & 0xff)] + payload
    }

    /// Splits a record stream into payloads, checking every header.
    static func records(_ bytes: [UInt8]) -> [[UInt8]]? {
        var payloads: [[UInt8]] = []
        var offset = 0
        while offset < bytes.count {
            guard bytes.count - offset >= 5, bytes[offset..<offset + 3].elementsEqual([0x17, 0x03, 0x03]) else { return nil }
            let length = Int(bytes[offset + 3]) << 8 | Int(bytes[offset + 4])
            guard bytes.count - offset - 5 >= length else { return nil }
            payloads.append(Array(bytes[offset + 5..<offset + 5 + length]))
            offset += 5 + length
        }
        return payloads
    }

    @Test(arguments: [FakeTLSClient.HelloShape.current, .legacy])
    func authenticatedHelloIsAnsweredAndRelaysBothWaysInsideRecords(shape: FakeTLSClient.HelloShape) throws {
        let f = try Fixture()
        let hello = Self.hello(shape: shape)
        // The hello arrives in three TCP segments.
        try f.client.writeInbound(ByteBuffer(bytes: hello[0..<3]))
        try f.client.writeInbound(ByteBuffer(bytes: hello[3..<300]))
        #expect(try f.outbound(f.client).isEmpty)
        try f.client.writeInbound(ByteBuffer(bytes: hello[300...]))
        let flight = try f.outbound(f.client)
        #expect(FakeTLSClient.checkFlight(flight, clientRandom: Array(hello[11..<43]), key: Self.tls.key) == .verified(length: flight.count))

        let client = TestClient(key: Self.tls.key, tagByte: 0xdd, dc: 2)
        let early = SecureRandom.bytes(100)
        let first = client.header + client.encryptor.transform(early)
        // ChangeCipherSpec, then the header and early bytes split over two records and two reads.
        let wire = [0x14, 0x03, 0x03, 0x00, 0x01, 0x01] + Self.applicationData(Array(first[0..<70])) + Self.applicationData(Array(first[70...]))
        try f.client.writeInbound(ByteBuffer(bytes: wire[0..<20]))
        try f.client.writeInbound(ByteBuffer(bytes: wire[20...]))
        #expect(f.fronting.upstream == nil)
        let upstream = try #require(f.connector.upstream)
        let sent = try f.outbound(upstream)
        let dc = TestDCLeg(header: Array(sent[0..<64]))
        #expect(dc.tag == [0xdd, 0xdd, 0xdd, 0xdd])
        #expect(dc.decryptor.transform(sent[64...]) == early)

        // DC → client: 40 000 bytes come back in records of at most 16 384 bytes.
        let reply = SecureRandom.bytes(40_000)
        try upstream.writeInbound(ByteBuffer(bytes: dc.encryptor.transform(reply)))
        let payloads = try #require(Self.records(try f.outbound(f.client)))
        #expect(payloads.allSatisfy { $0.count <= 16_384 })
        #expect(client.decryptor.transform(payloads.flatMap { $0 }) == reply)
        // And a small reply is one record.
        try upstream.writeInbound(ByteBuffer(bytes: dc.encryptor.transform([1, 2, 3])))
        #expect(Self.records(try f.outbound(f.client))?.map(\.count) == [3])

        let succeeded = try #require(f.sink.first(.handshakeSucceeded))
        #expect(succeeded.transport == .faketls)
        #expect(succeeded.secretName == "tls")
        #expect(f.sink.first(.handshakeFailed) == nil)
    }

    @Test func wrongKeyIsFrontedWithEveryByteReplayedThenSpliced() throws {
        let f = try Fixture()
        let hello = Self.hello(key: SecureRandom.bytes(16))
        try f.client.writeInbound(ByteBuffer(bytes: hello))
        f.loop.run()
        #expect(f.connector.requestedTargets.isEmpty)
        #expect(f.fronting.requestedTargets == [[.address(try SocketAddress(ipAddress: "127.0.0.1", port: 8444))]])
        let site = try #require(f.fronting.upstream)
        #expect(try f.outbound(site) == hello)
        #expect(try f.outbound(f.client).isEmpty, "nothing of the proxy's own may reach a prober")

        try f.client.writeInbound(ByteBuffer(bytes: [9, 8, 7]))
        #expect(try f.outbound(site) == [9, 8, 7])
        try site.writeInbound(ByteBuffer(string: "HTTP/1.1 400 Bad Request\r\n\r\n"))
        #expect(try f.outbound(f.client) == Array("HTTP/1.1 400 Bad Request\r\n\r\n".utf8))

        #expect(f.sink.first(.handshakeFailed)?.reason == "tls_digest")
        let forwarded = try #require(f.sink.first(.probeForwarded))
        #expect(forwarded.reason == "tls_digest")
        #expect(forwarded.outcome == .success)
        #expect(f.stats.snapshot().probesForwarded == 1)
        _ = try? site.close().wait()
        f.loop.run()
        #expect(!f.client.isActive)
        #expect(f.sink.first(.sessionClosed)?.reason == "tls_digest")
    }

    @Test func staleTimestampNamesTheSecretAndIsFronted() throws {
        let f = try Fixture()
        try f.client.writeInbound(ByteBuffer(bytes: Self.hello(unixTime: Self.unixTime - 3600)))
        f.loop.run()
        let failed = try #require(f.sink.first(.handshakeFailed))
        #expect(failed.reason == "tls_skew")
        #expect(failed.secretName == "tls")
        #expect(f.sink.first(.probeForwarded)?.reason == "tls_skew")
    }

    @Test func replayedHelloIsFronted() throws {
        let settings = ProxySettings(Self.configuration())
        let hello = Self.hello()
        let first = try Fixture(settings: settings)
        try first.client.writeInbound(ByteBuffer(bytes: hello))
        #expect(first.sink.first(.handshakeFailed) == nil)
        let second = try Fixture(settings: settings)
        try second.client.writeInbound(ByteBuffer(bytes: hello))
        second.loop.run()
        #expect(second.sink.first(.handshakeFailed)?.reason == "replay")
        #expect(try second.outbound(try #require(second.fronting.upstream)) == hello)
    }

    @Test func replayProtectionCanBeTurnedOff() throws {
        var configuration = Self.configuration()
        configuration.replay.enabled = false
        let settings = ProxySettings(configuration)
        #expect(settings.replayFilter == nil)
        let hello = Self.hello()
        for _ in 0..<2 {
            let f = try Fixture(settings: settings)
            try f.client.writeInbound(ByteBuffer(bytes: hello))
            #expect(f.sink.first(.handshakeFailed) == nil)
        }
    }

    @Test func partialHelloTimesOutIntoTheFrontingSite() throws {
        let f = try Fixture()
        let hello = Self.hello()
        try f.client.writeInbound(ByteBuffer(bytes: hello[0..<100]))
        f.loop.advanceTime(by: .seconds(9))
        #expect(f.fronting.requestedTargets.isEmpty)
        f.loop.advanceTime(by: .seconds(1))
        #expect(f.client.isActive, "a timeout is fronted, not closed")
        #expect(f.sink.first(.handshakeFailed)?.reason == "timeout")
        #expect(try f.outbound(try #require(f.fronting.upstream)) == Array(hello[0..<100]))
    }

    @Test func earlyEOFIsFrontedWithTheBytesAndTheEOF() throws {
        let f = try Fixture()
        try f.client.writeInbound(ByteBuffer(bytes: [0x16, 0x03, 0x01]))
        f.client.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        f.loop.run()
        #expect(f.sink.first(.handshakeFailed)?.reason == "closed_early")
        let site = try #require(f.fronting.upstream)
        #expect(try f.outbound(site) == [0x16, 0x03, 0x01])
    }

    @Test func plainObfuscated2StillWorksBesideFakeTLS() throws {
        let f = try Fixture()
        let client = TestClient(key: TestSecrets.main.key, tagByte: 0xdd, dc: 2)
        try f.client.writeInbound(ByteBuffer(bytes: client.header[0..<1]))
        try f.client.writeInbound(ByteBuffer(bytes: client.header[1...]))
        let upstream = try #require(f.connector.upstream)
        #expect(try f.outbound(upstream).count == 64)
        #expect(f.sink.first(.handshakeSucceeded)?.transport == .secure)
    }

    @Test func faketlsOnlyRefusesPlainObfuscated2AtOnce() throws {
        let f = try Fixture(settings: ProxySettings(Self.configuration(transports: [.faketls])))
        let client = TestClient(key: Self.tls.key, tagByte: 0xdd, dc: 2)
        try f.client.writeInbound(ByteBuffer(bytes: client.header))
        f.loop.run()
        #expect(f.connector.requestedTargets.isEmpty)
        #expect(f.sink.first(.handshakeFailed)?.reason == "transport_not_allowed")
        #expect(try f.outbound(try #require(f.fronting.upstream)) == client.header)

        let garbage = try Fixture(settings: ProxySettings(Self.configuration(transports: [.faketls])))
        try garbage.client.writeInbound(ByteBuffer(bytes: [0x42, 0x01]))
        garbage.loop.run()
        #expect(garbage.sink.first(.handshakeFailed)?.reason == "malformed")
        #expect(try garbage.outbound(try #require(garbage.fronting.upstream)) == [0x42, 0x01])
    }

    @Test func plainHTTPIsFrontedWithoutWaitingForSixtyFourBytes() throws {
        let f = try Fixture()
        let request = Array("GET / HTTP/1.1\r\n".utf8)
        try f.client.writeInbound(ByteBuffer(bytes: request))
        f.loop.run()
        #expect(f.sink.first(.handshakeFailed)?.reason == "malformed")
        #expect(try f.outbound(try #require(f.fronting.upstream)) == request)
    }

    @Test func replayedObfuscated2HeaderIsFronted() throws {
        let settings = ProxySettings(Self.configuration())
        let client = TestClient(key: TestSecrets.main.key, tagByte: 0xdd, dc: 2)
        let first = try Fixture(settings: settings)
        try first.client.writeInbound(ByteBuffer(bytes: client.header))
        #expect(first.sink.first(.handshakeSucceeded) != nil)
        let second = try Fixture(settings: settings)
        try second.client.writeInbound(ByteBuffer(bytes: client.header))
        second.loop.run()
        #expect(second.connector.requestedTargets.isEmpty)
        #expect(second.sink.first(.handshakeFailed)?.reason == "replay")
        #expect(try second.outbound(try #require(second.fronting.upstream)) == client.header)
    }

    /// Random first bytes, TLS-shaped or not, cut anywhere: the pipeline never crashes and
    /// every connection ends either served or at the fronting site with what it sent.
    @Test func randomFirstBytesEndAtTheFrontingSiteUnchanged() throws {
        var generator = SeededGenerator(seed: 0x5eed_f00d)
        for round in 0..<200 {
            let f = try Fixture()
            var bytes = (0..<Int.random(in: 0...3000, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if round % 2 == 0 { bytes = [0x16, 0x03, 0x01, UInt8.random(in: 0...0x40, using: &generator)] + bytes }
            var rest = bytes[...]
            while !rest.isEmpty, f.fronting.upstream == nil, f.client.isActive {
                let cut = Int.random(in: 1...rest.count, using: &generator)
                try f.client.writeInbound(ByteBuffer(bytes: rest.prefix(cut)))
                rest = rest.dropFirst(cut)
            }
            f.client.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
            f.loop.run()
            let site = try #require(f.fronting.upstream, "round \(round)")
            let sent = Array(bytes[..<(bytes.count - rest.count)])
            #expect(try f.outbound(site) == sent, "round \(round)")
            _ = try? f.client.close().wait()
        }
    }

    @Test func frontingSiteUnreachableCloses() throws {
        let f = try Fixture()
        f.fronting.failing = true
        try f.client.writeInbound(ByteBuffer(bytes: Self.hello(key: SecureRandom.bytes(16))))
        f.loop.run()
        #expect(!f.client.isActive)
        #expect(f.sink.first(.probeForwarded) == nil)
    }

    @Test func frontingDisabledCloses() throws {
        var configuration = Self.configuration()
        configuration.fronting.enabled = false
        let settings = ProxySettings(configuration)
        #expect(settings.frontingTargets == nil)
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        let session = ProxySession(
            settings: settings, events: RecordingEventSink(), stats: ProxyStats(startedAtMilliseconds: 0), clock: ProxyClock { 0 },
            source: IPAddress("192.0.2.9")!, sourcePort: 1, listener: "test", clientChannel: channel)
        try channel.pipeline.syncOperations.addHandler(ClientHelloHandler.firstHandler(
            session: session, deadline: loop.now + .seconds(10), connector: EmbeddedConnector(loop: loop)))
        try channel.connect(to: SocketAddress(ipAddress: "192.0.2.9", port: 1)).wait()
        try channel.writeInbound(ByteBuffer(string: "GET / HTTP/1.1\r\n"))
        loop.run()
        #expect(!channel.isActive)
    }
}

@Suite struct FakeTLSRecordHandlerTests {
    func channel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(handler: FakeTLSRecordHandler())
        try channel.connect(to: SocketAddress(ipAddress: "192.0.2.1", port: 1)).wait()
        return channel
    }

    @Test func inboundSkipsChangeCipherSpecAndJoinsPayloadsAcrossReads() throws {
        let channel = try channel()
        let payload = SecureRandom.bytes(5000)
        let wire: [UInt8] = [0x14, 0x03, 0x03, 0x00, 0x01, 0x01]
            + FakeTLSPipelineTests.applicationData(Array(payload[0..<2878]))
            + FakeTLSPipelineTests.applicationData(Array(payload[2878...]))
        var offset = 0
        for cut in [1, 4, 7, 100, 2884, 2890, wire.count] {
            try channel.writeInbound(ByteBuffer(bytes: wire[offset..<cut]))
            offset = cut
        }
        var received: [UInt8] = []
        while let buffer = try channel.readInbound(as: ByteBuffer.self) { received += buffer.bytes }
        #expect(received == payload)
    }

    @Test func inboundGarbageCloses() throws {
        let channel = try channel()
        try channel.writeInbound(ByteBuffer(bytes: [0x16, 0x03, 0x03, 0x00, 0x01, 0x00]))
        #expect(!channel.isActive)
    }

    @Test(arguments: [1, 1024, 1025, 16_384, 16_385, 65_536, 100_000])
    func outboundRecordsAreAtMost16KiB(length: Int) throws {
        let channel = try channel()
        let payload = SecureRandom.bytes(length)
        try channel.writeOutbound(ByteBuffer(bytes: payload))
        var wire: [UInt8] = []
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) { wire += buffer.bytes }
        let records = try #require(FakeTLSPipelineTests.records(wire))
        #expect(records.allSatisfy { $0.count <= 16_384 && !$0.isEmpty })
        #expect(records.count == (length + 16_383) / 16_384)
        #expect(records.flatMap { $0 } == payload)
    }

    @Test func emptyWritePassesThrough() throws {
        let channel = try channel()
        try channel.writeOutbound(ByteBuffer())
        let out = try channel.readOutbound(as: ByteBuffer.self)
        #expect(out?.readableBytes == 0)
    }
}
