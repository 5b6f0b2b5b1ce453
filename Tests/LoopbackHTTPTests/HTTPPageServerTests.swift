import Logging
import LoopbackHTTP
import NIOCore
import NIOPosix
import ServiceLifecycleTestKit
import Synchronization
import Testing

@Suite struct HTTPPageServerTests {
    struct Reply {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    final class Calls: Sendable {
        let count = Atomic<Int>(0)
    }

    static let logger = Logger(label: "test.http")

    /// A long idle timeout by default: on a loaded machine a test may pause between requests.
    static func server(idleTimeout: TimeAmount = .minutes(10), port: Int = 0, calls: Calls = Calls()) -> HTTPPageServer {
        HTTPPageServer(host: "127.0.0.1", port: port, routes: HTTPRoutes([
            "/hello": {
                calls.count.add(1, ordering: .relaxed)
                return HTTPPage(contentType: HTTPPage.plainTextContentType, body: Array("hello\n".utf8))
            },
        ]), setting: "test.listen", logger: logger, idleTimeout: idleTimeout)
    }

    /// Writes the request as soon as the connection is up and gathers every byte until the
    /// server closes it, all on the event loop: a busy cooperative pool cannot delay the
    /// request past the server's idle timeout.
    final class Exchange: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        private let request: String
        private let received: EventLoopPromise<[UInt8]>
        private var bytes: [UInt8] = []

        init(request: String, received: EventLoopPromise<[UInt8]>) {
            self.request = request
            self.received = received
        }

        func channelActive(context: ChannelHandlerContext) {
            if !request.isEmpty { context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: request)), promise: nil) }
            context.fireChannelActive()
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            bytes += unwrapInboundIn(data).readableBytesView
        }

        func channelInactive(context: ChannelHandlerContext) {
            received.succeed(bytes)
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            context.close(promise: nil)
        }
    }

    /// Sends `request` (nothing when empty) on a new connection and reads until the server
    /// closes it; after two minutes the client closes it and the test sees what came.
    static func exchange(port: Int, _ request: String) async throws -> [UInt8] {
        let group = MultiThreadedEventLoopGroup.singleton
        let received = group.next().makePromise(of: [UInt8].self)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(Exchange(request: request, received: received))
                    }
                }
                .connect(host: "127.0.0.1", port: port).get()
        } catch {
            received.fail(error)
            throw error
        }
        channel.eventLoop.scheduleTask(in: .minutes(2)) { channel.close(promise: nil) }
        return try await received.futureResult.get()
    }

    static func parse(_ bytes: [UInt8]) throws -> [Reply] {
        var replies: [Reply] = []
        var rest = bytes[...]
        while !rest.isEmpty {
            let end = try #require(rest.firstRange(of: Array("\r\n\r\n".utf8)))
            let head = String(decoding: rest[..<end.lowerBound], as: UTF8.self).split(separator: "\r\n")
            let status = try #require(Int(head[0].split(separator: " ")[1]))
            var headers: [String: String] = [:]
            for line in head.dropFirst() {
                let parts = line.split(separator: ":", maxSplits: 1)
                headers[parts[0].lowercased()] = String(parts[1].drop(while: { $0 == " " }))
            }
            let bodyLength = try #require(Int(headers["content-length"] ?? ""))
            rest = rest[end.upperBound...]
            replies.append(Reply(status: status, headers: headers, body: Array(rest.prefix(bodyLength))))
            rest = rest.dropFirst(bodyLength)
        }
        return replies
    }

    static func request(_ path: String, port: Int, method: String = "GET") async throws -> Reply {
        let replies = try parse(await exchange(port: port, "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"))
        try #require(replies.count == 1)
        return replies[0]
    }

    @Test func servesARouteAndRefusesTheRest() async throws {
        let server = Self.server()
        let port = try #require(try await server.start().port)
        defer { Task { await server.stop() } }
        #expect(server.localAddress?.port == port)

        let hello = try await Self.request("/hello?x=1", port: port)
        #expect(hello.status == 200)
        #expect(hello.text == "hello\n")
        #expect(hello.headers["content-type"] == "text/plain; charset=utf-8")
        #expect(hello.headers["content-length"] == "6")
        #expect(hello.headers["cache-control"] == "no-store")
        #expect(hello.headers["connection"] == "close")

        let missing = try await Self.request("/nothing", port: port)
        #expect(missing.status == 404)
        #expect(missing.text == "Not found. Try /hello.\n")

        for method in ["POST", "PUT", "DELETE"] {
            let refused = try await Self.request("/hello", port: port, method: method)
            #expect(refused.status == 405)
            #expect(refused.headers["allow"] == "GET, HEAD")
        }
    }

    @Test func headSendsTheLengthWithoutTheBody() async throws {
        let server = Self.server()
        let port = try #require(try await server.start().port)
        defer { Task { await server.stop() } }
        let raw = try await Self.exchange(port: port, "HEAD /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let text = String(decoding: raw, as: UTF8.self)
        #expect(text.hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(text.lowercased().contains("content-length: 6\r\n"))
        #expect(text.hasSuffix("\r\n\r\n"))
    }

    @Test func keepAliveAnswersPipelinedRequestsInOrder() async throws {
        let server = Self.server()
        let port = try #require(try await server.start().port)
        defer { Task { await server.stop() } }
        let request = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /other HTTP/1.1\r\nHost: x\r\n\r\n"
            + "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        let replies = try Self.parse(await Self.exchange(port: port, request))
        #expect(replies.map(\.status) == [200, 404, 200])
        #expect(replies[0].headers["connection"] == nil)
    }

    @Test func concurrentClientsAreAllAnswered() async throws {
        let calls = Calls()
        let server = Self.server(calls: calls)
        let port = try #require(try await server.start().port)
        defer { Task { await server.stop() } }
        let clients = 32
        let statuses = try await withThrowingTaskGroup(of: (Int, String).self) { tasks in
            for index in 0..<clients {
                tasks.addTask {
                    let reply = try await Self.request(index.isMultiple(of: 2) ? "/hello" : "/gone", port: port)
                    return (reply.status, reply.text)
                }
            }
            return try await tasks.reduce(into: [(Int, String)]()) { $0.append($1) }
        }
        #expect(statuses.count == clients)
        #expect(statuses.filter { $0 == (200, "hello\n") }.count == clients / 2)
        #expect(statuses.filter { $0.0 == 404 }.count == clients / 2)
        #expect(calls.count.load(ordering: .relaxed) == clients / 2)
    }

    @Test func badBytesGetA400AndTheServerGoesOn() async throws {
        let server = Self.server()
        let port = try #require(try await server.start().port)
        defer { Task { await server.stop() } }
        let garbage = try await Self.exchange(port: port, "\u{01}\u{02} not http at all\r\n\r\n")
        #expect(String(decoding: garbage, as: UTF8.self).hasPrefix("HTTP/1.1 400"))
        #expect(try await Self.request("/hello", port: port).status == 200)
    }

    @Test func anIdleConnectionIsClosed() async throws {
        let server = Self.server(idleTimeout: .milliseconds(200))
        let port = try #require(try await server.start().port)
        defer { Task { await server.stop() } }
        // Silence: the server closes the connection with nothing sent, and the read ends.
        #expect(try await Self.exchange(port: port, "").isEmpty)
    }

    @Test func aTakenPortFailsToStartAndCanBeRetried() async throws {
        let first = Self.server()
        let port = try #require(try await first.start().port)
        defer { Task { await first.stop() } }
        let second = Self.server(port: port)
        // Each attempt binds again and fails on the socket (IOError), never on the server's
        // state (ChannelError): a failed bind leaves the server idle, ready to be retried.
        for _ in 0..<2 {
            await #expect(throws: IOError.self) { try await second.start() }
            #expect(second.localAddress == nil)
        }
        #expect(try await Self.request("/hello", port: port).status == 200)
    }

    @Test func startIsIdempotentAndStopIsFinal() async throws {
        let calls = Calls()
        let server = Self.server(calls: calls)
        let address = try await server.start()
        #expect(try await server.start() == address)
        let port = try #require(address.port)
        #expect(try await Self.request("/hello", port: port).status == 200)
        await server.stop()
        await server.stop()
        #expect(server.localAddress == nil)
        // The stopped server serves nothing more. The port itself may already belong to a
        // server of a test running beside this one, so what counts is this server's calls.
        _ = try? await Self.exchange(port: port, "GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n")
        #expect(calls.count.load(ordering: .relaxed) == 1)
        await #expect(throws: (any Error).self) { try await server.start() }
    }

    @Test func runStopsOnGracefulShutdown() async throws {
        let calls = Calls()
        let server = Self.server(calls: calls)
        try await testGracefulShutdown { shutdown in
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await server.run() }
                var port: Int?
                for _ in 0..<6_000 where port == nil {
                    port = server.localAddress?.port
                    if port == nil { try await Task.sleep(for: .milliseconds(10)) }
                }
                let bound = try #require(port)
                #expect(try await Self.request("/hello", port: bound).status == 200)
                shutdown.triggerGracefulShutdown()
                try await tasks.waitForAll()
                #expect(server.localAddress == nil)
                // Served by nothing of this server's (the port may be another test's by now).
                _ = try? await Self.exchange(port: bound, "GET /hello HTTP/1.1\r\nConnection: close\r\n\r\n")
                #expect(calls.count.load(ordering: .relaxed) == 1)
            }
        }
    }

    @Test func runStopsWhenCancelled() async throws {
        let server = Self.server()
        try await server.start()
        let running = Task { try await server.run() }
        running.cancel()
        try await running.value
        #expect(server.localAddress == nil)
    }
}
