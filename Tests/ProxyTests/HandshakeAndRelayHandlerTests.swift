import EventLog
import MTCrypto
import NIOCore
import NIOEmbedded
import Testing
@testable import Proxy

/// Hands out an in-memory DC leg on the same loop instead of a socket.
final class EmbeddedConnector: UpstreamConnecting {
    let loop: EmbeddedEventLoop
    var failing = false
    var requestedTargets: [[UpstreamTarget]] = []
    var upstream: EmbeddedChannel?

    init(loop: EmbeddedEventLoop) { self.loop = loop }

    func connect(to targets: [UpstreamTarget], on eventLoop: EventLoop, attemptFailed: @escaping (String) -> Void) -> EventLoopFuture<Channel> {
        requestedTargets.append(targets)
        if failing {
            for _ in targets { attemptFailed("connect_failed") }
            return loop.makeFailedFuture(UpstreamUnavailable())
        }
        let channel = EmbeddedChannel(loop: loop)
        upstream = channel
        return channel.connect(to: try! SocketAddress(ipAddress: "127.0.0.1", port: 443)).map { channel }
    }
}

/// Counts `read` requests that reach the head of the pipeline.
final class ReadCounter: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    var reads = 0
    func read(context: ChannelHandlerContext) {
        reads += 1
        context.read()
    }
}

@Suite struct HandshakeAndRelayHandlerTests {
    final class Fixture {
        let loop = EmbeddedEventLoop()
        let client: EmbeddedChannel
        let sink = RecordingEventSink()
        let stats = ProxyStats(startedAtMilliseconds: 0)
        let connector: EmbeddedConnector
        let session: ProxySession
        let readCounter = ReadCounter()

        init(configuration: ProxyConfiguration = TestSecrets.configuration()) throws {
            client = EmbeddedChannel(loop: loop)
            connector = EmbeddedConnector(loop: loop)
            let settings = ProxySettings(configuration)
            session = ProxySession(
                settings: settings, events: sink, stats: stats, clock: ProxyClock { 1_000 },
                source: IPAddress("192.0.2.7")!, sourcePort: 40000, listener: "test", clientChannel: client
            )
            let session = self.session
            client.closeFuture.assumeIsolated().whenComplete { _ in session.finish(defaultReason: "client_closed") }
            try client.pipeline.syncOperations.addHandler(readCounter)
            try client.pipeline.syncOperations.addHandler(HandshakeHandler(
                session: session, deadline: loop.now + settings.handshakeTimeout, connector: connector
            ))
            try client.connect(to: SocketAddress(ipAddress: "192.0.2.7", port: 40000)).wait()
        }

        func upstream() throws -> EmbeddedChannel { try #require(connector.upstream) }

        func outbound(_ channel: EmbeddedChannel) throws -> [UInt8] {
            var all: [UInt8] = []
            while let buffer = try channel.readOutbound(as: ByteBuffer.self) { all += buffer.bytes }
            return all
        }
    }

    @Test func relaysBothWaysWithFastMode() throws {
        let f = try Fixture()
        let client = TestClient(key: TestSecrets.main.key, tagByte: 0xee, dc: -2)
        let early = SecureRandom.bytes(40)
        try f.client.writeInbound(ByteBuffer(bytes: client.header + client.encryptor.transform(early)))
        #expect(f.connector.requestedTargets.count == 1)
        let upstream = try f.upstream()

        // The DC gets our header (client's tag and signed DC), then the early bytes re-encrypted.
        let sent = try f.outbound(upstream)
        #expect(sent.count == 64 + early.count)
        let dc = TestDCLeg(header: Array(sent[0..<64]))
        #expect(dc.tag == [0xee, 0xee, 0xee, 0xee])
        #expect(dc.dc == -2)
        #expect(dc.decryptor.transform(sent[64...]) == early)

        // Client → DC after the relay started.
        let later = SecureRandom.bytes(3000)
        try f.client.writeInbound(ByteBuffer(bytes: client.encryptor.transform(later)))
        #expect(dc.decryptor.transform(try f.outbound(upstream)) == later)

        // DC → client: forwarded unchanged, and the client can read it.
        let reply = SecureRandom.bytes(5000)
        let onWire = dc.encryptor.transform(reply)
        try upstream.writeInbound(ByteBuffer(bytes: onWire))
        let received = try f.outbound(f.client)
        #expect(received == onWire)
        #expect(client.decryptor.transform(received) == reply)

        let succeeded = try #require(f.sink.first(.handshakeSucceeded))
        #expect(succeeded.transport == .classic)
        #expect(succeeded.secretName == "main")
        #expect(succeeded.dc == -2)
        #expect(succeeded.sourceIP == "192.0.2.7")
        #expect(succeeded.sessionID?.count == 16)

        _ = try? f.client.close().wait()
        f.loop.run()
        let closed = try #require(f.sink.first(.sessionClosed))
        #expect(closed.bytesIn == UInt64(early.count + later.count))
        #expect(closed.bytesOut == UInt64(reply.count))
        #expect(closed.reason == "client_closed")
        #expect(!upstream.isActive)
        let snapshot = f.stats.snapshot()
        #expect(snapshot.bytesFromClients == UInt64(early.count + later.count))
        #expect(snapshot.byDC[2]?.sessionsTotal == 1)
        #expect(snapshot.byDC[2]?.sessionsActive == 0)
    }

    @Test func backPressureStopsReadingWhileThePartnerIsNotWritable() throws {
        let f = try Fixture()
        let client = TestClient(key: TestSecrets.main.key, tagByte: 0xdd, dc: 2)
        try f.client.writeInbound(ByteBuffer(bytes: client.header))
        let upstream = try f.upstream()
        let before = f.readCounter.reads
        upstream.isWritable = false
        upstream.pipeline.fireChannelWritabilityChanged()
        f.client.read()
        #expect(f.readCounter.reads == before)
        upstream.isWritable = true
        upstream.pipeline.fireChannelWritabilityChanged()
        #expect(f.readCounter.reads == before + 1)
        f.client.read()
        #expect(f.readCounter.reads == before + 2)
    }

    @Test func badSecretFailsAndCloses() throws {
        let f = try Fixture()
        let client = TestClient(key: SecureRandom.bytes(16), tagByte: 0xdd, dc: 2)
        try f.client.writeInbound(ByteBuffer(bytes: client.header))
        f.loop.run()
        #expect(!f.client.isActive)
        #expect(f.connector.requestedTargets.isEmpty)
        let failed = try #require(f.sink.first(.handshakeFailed))
        #expect(failed.reason == "bad_secret")
        #expect(failed.outcome == .failure)
        #expect(f.sink.first(.sessionClosed)?.reason == "bad_secret")
        #expect(f.stats.snapshot().handshakeFailuresByReason["bad_secret"] == 1)
    }

    @Test func handshakeTimeout() throws {
        let f = try Fixture()
        try f.client.writeInbound(ByteBuffer(bytes: [1, 2, 3]))
        f.loop.advanceTime(by: .seconds(9))
        #expect(f.client.isActive)
        f.loop.advanceTime(by: .seconds(1))
        #expect(!f.client.isActive)
        #expect(f.sink.first(.handshakeFailed)?.reason == "timeout")
    }

    @Test func closedEarly() throws {
        let f = try Fixture()
        try f.client.writeInbound(ByteBuffer(bytes: [1, 2, 3]))
        _ = try? f.client.close().wait()
        f.loop.run()
        #expect(f.sink.first(.handshakeFailed)?.reason == "closed_early")
        #expect(f.sink.first(.sessionClosed)?.reason == "closed_early")
        // The timer was cancelled: nothing more happens later.
        f.loop.advanceTime(by: .seconds(60))
        #expect(f.sink.actions().filter { $0 == "handshake.failed" }.count == 1)
    }

    @Test func upstreamFailureIsReportedAndCloses() throws {
        let f = try Fixture(configuration: TestSecrets.configuration(dcs: [2: ["127.0.0.1:9", "[::1]:9"]]))
        f.connector.failing = true
        let client = TestClient(key: TestSecrets.main.key, tagByte: 0xdd, dc: 2)
        try f.client.writeInbound(ByteBuffer(bytes: client.header))
        f.loop.run()
        #expect(!f.client.isActive)
        #expect(f.sink.actions().filter { $0 == "upstream.failed" }.count == 2)
        #expect(f.sink.first(.sessionClosed)?.reason == "upstream_failed")
        #expect(f.stats.snapshot().byDC[2]?.upstreamFailures == 2)
    }

    @Test func idleTimeoutClosesBothLegs() throws {
        var configuration = TestSecrets.configuration()
        configuration.limits.idleTimeoutMilliseconds = 30_000
        let f = try Fixture(configuration: configuration)
        let client = TestClient(key: TestSecrets.main.key, tagByte: 0xdd, dc: 2)
        try f.client.writeInbound(ByteBuffer(bytes: client.header))
        let upstream = try f.upstream()
        f.loop.advanceTime(by: .seconds(20))
        try upstream.writeInbound(ByteBuffer(bytes: [1, 2, 3]))
        f.loop.advanceTime(by: .seconds(20))
        #expect(f.client.isActive, "activity 20 s ago must keep the session open")
        f.loop.advanceTime(by: .seconds(10))
        #expect(!f.client.isActive)
        #expect(!upstream.isActive)
        #expect(f.sink.first(.sessionClosed)?.reason == "idle_timeout")
    }

    @Test func upstreamCloseClosesTheClient() throws {
        let f = try Fixture()
        let client = TestClient(key: TestSecrets.main.key, tagByte: 0xdd, dc: 2)
        try f.client.writeInbound(ByteBuffer(bytes: client.header))
        let upstream = try f.upstream()
        _ = try? upstream.close().wait()
        f.loop.run()
        #expect(!f.client.isActive)
        #expect(f.sink.first(.sessionClosed)?.reason == "upstream_closed")
    }
}
