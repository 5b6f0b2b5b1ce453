import EventLog
import Logging
import MTCrypto
import NIOCore
import NIOPosix
import ServiceLifecycleTestKit
import Synchronization
import Testing
@testable import Proxy

#if canImport(Glibc)
import Glibc
#endif

/// A DC stand-in on 127.0.0.1: reads the proxy's header, records tag and index, then echoes
/// every payload byte back through the DC → client keystream; on EOF it echoes what is
/// left and shuts its output (so half-close is exercised end to end).
final class EchoDC: Sendable {
    final class Seen: Sendable {
        let headers = Mutex<[(tag: [UInt8], dc: Int)]>([])
    }

    let channel: Channel
    private let seen = Seen()
    var headers: [(tag: [UInt8], dc: Int)] { seen.headers.withLock { $0 } }

    /// - Parameter replyThenClose: instead of echoing, send these bytes after the header and close.
    init(group: EventLoopGroup, replyThenClose: [UInt8]? = nil) async throws {
        let seen = self.seen
        channel = try await ServerBootstrap(group: group)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(EchoDCHandler(replyThenClose: replyThenClose) { tag, dc in seen.headers.withLock { $0.append((tag, dc)) } })
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    var address: String { "127.0.0.1:\(channel.localAddress!.port!)" }
}

final class EchoDCHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var header: [UInt8] = []
    private var leg: TestDCLeg?
    private let onHeader: (_ tag: [UInt8], _ dc: Int) -> Void
    private let replyThenClose: [UInt8]?

    init(replyThenClose: [UInt8]?, onHeader: @escaping (_ tag: [UInt8], _ dc: Int) -> Void) {
        self.replyThenClose = replyThenClose
        self.onHeader = onHeader
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data).bytes
        if leg == nil {
            let needed = 64 - header.count
            header += bytes.prefix(needed)
            bytes.removeFirst(min(needed, bytes.count))
            guard header.count == 64 else { return }
            let leg = TestDCLeg(header: header)
            self.leg = leg
            onHeader(leg.tag, leg.dc)
            if let replyThenClose {
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: leg.encryptor.transform(replyThenClose))))
                    .assumeIsolated().whenComplete { _ in context.close(promise: nil) }
                return
            }
        }
        guard let leg, !bytes.isEmpty else { return }
        let plain = leg.decryptor.transform(bytes)
        context.write(wrapOutboundOut(ByteBuffer(bytes: leg.encryptor.transform(plain))), promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) { context.flush() }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(mode: .output, promise: nil)
        }
    }
}

/// A test client on the event loop: sends `request` as soon as it is connected (then shuts
/// its output if asked), and collects everything it receives until the proxy closes or
/// shuts its output. Nothing waits for the test's task, whose cooperative pool the full
/// suite keeps busy.
final class CollectingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var received: [UInt8] = []
    private var request: [UInt8]
    private let shutOutput: Bool
    let done: EventLoopPromise<[UInt8]>

    init(request: [UInt8], shutOutput: Bool, done: EventLoopPromise<[UInt8]>) {
        self.request = request
        self.shutOutput = shutOutput
        self.done = done
    }

    func channelActive(context: ChannelHandlerContext) {
        if !request.isEmpty {
            let written = context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: request)))
            request = []
            if shutOutput {
                let context = NIOLoopBound(context, eventLoop: context.eventLoop)
                written.whenSuccess { context.value.close(mode: .output, promise: nil) }
            }
        } else if shutOutput {
            context.close(mode: .output, promise: nil)
        }
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) { received += unwrapInboundIn(data).bytes }
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, event == .inputClosed { done.succeed(received) }
    }
    func channelInactive(context: ChannelHandlerContext) { done.succeed(received) }
    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
}

/// A hang shows as a failed wait, each bounded where it waits: a client's reply on its event
/// loop (`replyTimeout`), a condition by `eventually`'s deadline. A time limit on the whole
/// test also counts the minutes the full suite on two cores keeps a test's task waiting for
/// the cooperative pool (a whole loaded run takes about five); this one stops a hang that
/// escaped both, or one in `run()`'s shutdown.
@Suite(.timeLimit(.minutes(10))) struct ProxyServiceEndToEndTests {
    struct NoReply: Error, CustomStringConvertible {
        var description: String { "the proxy neither closed nor shut its output within \(ProxyServiceEndToEndTests.replyTimeout)" }
    }

    struct NeverHeld: Error, CustomStringConvertible {
        var description: String { "condition not met within 120 s" }
    }

    let group = MultiThreadedEventLoopGroup.singleton
    /// Loopback work of a second at most on an idle machine; counted on the client's event
    /// loop, which the cooperative pool's backlog does not delay.
    static let replyTimeout = TimeAmount.seconds(60)

    /// A client that sends `request` once connected (then shuts its output if asked) and
    /// collects what comes back until the proxy closes or shuts its output; after
    /// `replyTimeout` the reply fails with `NoReply` and the client closes. Nil for a reply
    /// that waits for `run()` to stop the proxy: that runs on the cooperative pool.
    func connect(to address: SocketAddress, sending request: [UInt8] = [], thenShutOutput shutOutput: Bool = false,
                 replyTimeout: TimeAmount? = Self.replyTimeout) async throws -> (Channel, EventLoopFuture<[UInt8]>) {
        let promise = group.next().makePromise(of: [UInt8].self)
        let channel = try await ClientBootstrap(group: promise.futureResult.eventLoop)
            .channelOption(.allowRemoteHalfClosure, value: true)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(CollectingHandler(request: request, shutOutput: shutOutput, done: promise))
                }
            }
            .connect(to: address).get()
        if let replyTimeout {
            channel.eventLoop.scheduleTask(in: replyTimeout) {
                promise.fail(NoReply())
                channel.close(promise: nil)
            }
        }
        return (channel, promise.futureResult)
    }

    /// Polls `condition` until it holds; fails the test if it does not within two minutes
    /// (the polls run on the cooperative pool, which the full suite keeps busy).
    func eventually(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(120)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw NeverHeld() }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    func service(
        _ configuration: ProxyConfiguration, sink: RecordingEventSink, stats: ProxyStats = ProxyStats(startedAtMilliseconds: 0),
        blocklist: BlocklistStore = BlocklistStore(hasher: IPHasher(), now: { 0 })
    ) -> ProxyService {
        ProxyService(
            configuration: configuration, blocklist: blocklist, events: sink, stats: stats,
            logger: Logger(label: "test"), drainTimeout: .seconds(2)
        )
    }

    @Test func relaysThroughRealSocketsBothWaysWithHalfClose() async throws {
        let dc = try await EchoDC(group: group)
        var configuration = TestSecrets.configuration(dcs: [4: [dc.address]])
        configuration.listen = ["127.0.0.1:0"]
        let sink = RecordingEventSink()
        let stats = ProxyStats(startedAtMilliseconds: 0)
        let proxy = service(configuration, sink: sink, stats: stats)
        let addresses = try await proxy.bind()
        #expect(addresses.count == 1)

        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await proxy.run() }
                // Connect once the proxy says it serves, as a client that read its start event would.
                try await eventually { sink.first(.proxyStarted) != nil }

                let client = TestClient(key: TestSecrets.main.key, tagByte: 0xdd, dc: -4)
                let payload = SecureRandom.bytes(3 << 20)
                let (channel, received) = try await connect(to: addresses[0], sending: client.header + client.encryptor.transform(payload),
                                                            thenShutOutput: true)
                let echoed = try await received.get()
                #expect(echoed.count == payload.count)
                let echoedIntact = client.decryptor.transform(echoed) == payload // a Bool: a failing #expect would print 3 MiB
                #expect(echoedIntact)
                try? await channel.close()

                #expect(dc.headers.count == 1)
                #expect(dc.headers.first?.tag == [0xdd, 0xdd, 0xdd, 0xdd])
                #expect(dc.headers.first?.dc == -4)

                try await eventually { sink.first(.sessionClosed) != nil }
                let closed = try #require(sink.first(.sessionClosed))
                #expect(closed.bytesIn == UInt64(payload.count))
                #expect(closed.bytesOut == UInt64(payload.count))
                #expect(closed.sourceIP == "127.0.0.1")
                #expect(closed.instance == "test")
                #expect(closed.listener == "127.0.0.1:0")
                #expect(sink.actions().prefix(3) == ["proxy.started", "connection.accepted", "handshake.succeeded"])
                #expect(stats.snapshot().bytesFromClients == UInt64(payload.count))
                #expect(stats.snapshot().connectionsActive == 0)

                trigger.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
        #expect(sink.actions().last == "proxy.stopped")
        try await dc.channel.close()
    }

    @Test func everythingQueuedReachesTheClientWhenTheDCClosesFirst() async throws {
        let reply = SecureRandom.bytes(4 << 20)
        let dc = try await EchoDC(group: group, replyThenClose: reply)
        var configuration = TestSecrets.configuration(dcs: [2: [dc.address]])
        configuration.listen = ["127.0.0.1:0"]
        let sink = RecordingEventSink()
        let proxy = service(configuration, sink: sink)
        let address = try await proxy.bind()[0]
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await proxy.run() }
                let client = TestClient(key: TestSecrets.main.key, tagByte: 0xdd, dc: 2)
                let (channel, received) = try await connect(to: address, sending: client.header)
                let bytes = try await received.get()
                #expect(bytes.count == reply.count)
                let replyIntact = client.decryptor.transform(bytes) == reply
                #expect(replyIntact)
                try? await channel.close()
                try await eventually { sink.first(.sessionClosed) != nil }
                #expect(sink.first(.sessionClosed)?.reason == "upstream_closed")
                #expect(sink.first(.sessionClosed)?.bytesOut == UInt64(reply.count))
                trigger.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
        try await dc.channel.close()
    }

    @Test func perAddressAndGlobalLimitsRejectAtAccept() async throws {
        let dc = try await EchoDC(group: group)
        var configuration = TestSecrets.configuration(dcs: [2: [dc.address]])
        configuration.listen = ["127.0.0.1:0"]
        configuration.limits.maxConnectionsPerIP = 1
        // The first client holds its place, silent, until the end of the test, however long
        // the cooperative pool makes that: its handshake must not time out first.
        configuration.limits.handshakeTimeoutMilliseconds = 10 * 60_000
        let sink = RecordingEventSink()
        let proxy = service(configuration, sink: sink)
        let address = try await proxy.bind()[0]

        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await proxy.run() }
                let (first, _) = try await connect(to: address)
                try await eventually { proxy.openSessions == 1 }
                let (second, secondReceived) = try await connect(to: address)
                #expect(try await secondReceived.get().isEmpty)
                try? await second.close()
                try await eventually { sink.first(.connectionRejected) != nil }
                #expect(sink.first(.connectionRejected)?.reason == "ip_limit")

                // A reload lowers the global limit for new connections.
                configuration.limits.maxConnectionsPerIP = 10
                configuration.limits.maxConnections = 1
                proxy.update(configuration: configuration)
                let (third, thirdReceived) = try await connect(to: address)
                #expect(try await thirdReceived.get().isEmpty)
                try? await third.close()
                try await eventually { sink.events.filter { $0.action == .connectionRejected }.count == 2 }
                #expect(sink.events.last { $0.action == .connectionRejected }?.reason == "global_limit")

                try await first.close()
                trigger.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
        try await dc.channel.close()
    }

    @Test func shutdownDrainsThenClosesOpenSessions() async throws {
        let dc = try await EchoDC(group: group)
        var configuration = TestSecrets.configuration(dcs: [2: [dc.address]])
        configuration.listen = ["127.0.0.1:0", "[::1]:0"]
        let sink = RecordingEventSink()
        let proxy = service(configuration, sink: sink)
        let addresses = try await proxy.bind()
        #expect(addresses.count == 2)

        let started = ContinuousClock.now
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await proxy.run() }
                let client = TestClient(key: TestSecrets.main.key, tagByte: 0xef, dc: 2)
                let (_, received) = try await connect(to: addresses[1], sending: client.header + client.encryptor.transform([1, 2, 3, 4]),
                                                      replyTimeout: nil)
                try await eventually { dc.headers.count == 1 }
                trigger.triggerGracefulShutdown()
                _ = try await received.get()
                try await tasks.waitForAll()
            }
        }
        #expect(ContinuousClock.now - started >= .seconds(2))
        #expect(sink.first(.sessionClosed)?.reason == "shutdown")
        #expect(sink.first(.handshakeSucceeded)?.transport == .classic)
        #expect(proxy.openSessions == 0)
        try await dc.channel.close()
    }

    @Test func blocklistedAddressIsRefusedBeforeAnyByte() async throws {
        var configuration = TestSecrets.configuration()
        configuration.listen = ["127.0.0.1:0"]
        let sink = RecordingEventSink()
        let stats = ProxyStats(startedAtMilliseconds: 0)
        let blocklist = BlocklistStore(hasher: IPHasher(), now: { 0 }, blocklist: Blocklist(entries: [.network(CIDR("127.0.0.0/8")!)]))
        let proxy = service(configuration, sink: sink, stats: stats, blocklist: blocklist)
        let address = try await proxy.bind()[0]
        try await testGracefulShutdown { trigger in
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await proxy.run() }
                let (channel, received) = try await connect(to: address, sending: [1, 2, 3])
                #expect(try await received.get().isEmpty)
                try? await channel.close()
                try await eventually { sink.first(.connectionRejected) != nil }
                let rejected = try #require(sink.first(.connectionRejected))
                #expect(rejected.reason == "blocklisted")
                #expect(rejected.sourceIP == "127.0.0.1")
                #expect(rejected.sessionID?.count == 16)
                #expect(sink.first(.connectionAccepted) == nil)
                #expect(stats.snapshot().rejectionsByReason["blocklisted"] == 1)
                #expect(stats.snapshot().connectionsTotal == 0)
                trigger.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
        }
    }

    @Test func badListenAddressIsNamed() async throws {
        var configuration = TestSecrets.configuration()
        configuration.listen = ["127.0.0.1"]
        let proxy = service(configuration, sink: RecordingEventSink())
        let error = await #expect(throws: ProxyService.Failure.self) { try await proxy.bind() }
        #expect(error?.description.hasPrefix("listen: 127.0.0.1: expected") == true)
    }

    @Test func aPortAnotherListenerHoldsIsRefusedNotShared() async throws {
        // As another mtproxy would: SO_REUSEPORT set, so only the proxy's check refuses to share.
        let other = try await ServerBootstrap(group: group)
            .serverChannelOption(ChannelOptions.Types.SocketOption(level: .socket, name: NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: 1)
            .bind(host: "127.0.0.1", port: 0).get()
        let port = try #require(other.localAddress?.port)
        var configuration = TestSecrets.configuration()
        configuration.listen = ["127.0.0.1:\(port)"]
        let proxy = service(configuration, sink: RecordingEventSink())
        let error = await #expect(throws: ProxyService.Failure.self) { try await proxy.bind() }
        #expect(error?.description.hasPrefix("listen: 127.0.0.1:\(port): cannot bind") == true)
        try await other.close()
    }
}

@Suite struct IPAddressFromSocketAddressTests {
    @Test(arguments: [("203.0.113.7", "203.0.113.7"), ("2001:db8::1", "2001:db8::1"), ("::ffff:192.0.2.1", "192.0.2.1"), ("::1", "::1")])
    func matchesTheTextForm(text: String, expected: String) throws {
        let socketAddress = try SocketAddress(ipAddress: text, port: 443)
        let address = try #require(IPAddress(socketAddress))
        #expect(address == IPAddress(expected))
        #expect(address.description == expected)
    }

    @Test func aUnixSocketHasNoAddress() throws {
        #expect(IPAddress(try SocketAddress(unixDomainSocketPath: "/tmp/x")) == nil)
    }
}
