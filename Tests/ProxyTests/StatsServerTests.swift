import EventLog
import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
@testable import Proxy

#if canImport(Glibc)
import Glibc
#endif

@Suite struct StatsServerTests {
    struct Reply {
        var status: Int
        var headers: [String: String]
        var body: [UInt8]
    }

    struct ConnectFailed: Error {
        var errno: Int32
    }

    /// One blocking HTTP exchange over loopback, bounded by a 5 s receive timeout.
    static func blockingExchange(port: Int, _ request: String) throws -> [UInt8] {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(socket >= 0)
        defer { close(socket) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw ConnectFailed(errno: errno) }
        let bytes = Array(request.utf8)
        try #require(send(socket, bytes, bytes.count, 0) == bytes.count)
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let count = recv(socket, &chunk, chunk.count, 0)
            if count <= 0 { break }
            received += chunk[0..<count]
        }
        return received
    }

    static func parse(_ bytes: [UInt8]) throws -> Reply {
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        let end = try #require(bytes.firstRange(of: separator))
        let head = String(decoding: bytes[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
        let statusLine = head[0].split(separator: " ")
        let status = try #require(Int(statusLine[1]))
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1)
            headers[parts[0].lowercased()] = parts[1].trimmingCharacters(in: .whitespaces)
        }
        return Reply(status: status, headers: headers, body: Array(bytes[end.upperBound...]))
    }

    /// `exchange` on a thread of its own, so that blocking reads never hold a thread of
    /// the cooperative pool the server's tests share.
    static func exchange(port: Int, _ request: String) async throws -> [UInt8] {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try blockingExchange(port: port, request) }) }.start()
        }
    }

    static func get(_ path: String, port: Int, method: String = "GET") async throws -> Reply {
        try parse(await exchange(port: port, "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"))
    }

    @Test func servesBothPagesOverLoopback() async throws {
        let stats = StatsTests.busyStats()
        let server = StatsServer(host: "127.0.0.1", port: 0, stats: stats, logger: Logger(label: "test.stats"),
                                 now: { StatsTests.started + 61_000 })
        let address = try await server.start()
        defer { Task { await server.stop() } }
        let port = try #require(address.port)
        #expect(port > 0)

        let statsReply = try await Self.get("/stats", port: port)
        #expect(statsReply.status == 200)
        #expect(statsReply.headers["content-type"] == "application/json; charset=utf-8")
        #expect(statsReply.headers["content-length"] == String(statsReply.body.count))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(statsReply.body)) as? [String: Any])
        #expect(object["uptime_seconds"] as? Int == 61)
        #expect(object["version"] as? String == ProxyLibrary.version)
        #expect(object["connections"] as? [String: Int] == ["active": 4, "total": 5])

        let metricsReply = try await Self.get("/metrics", port: port)
        #expect(metricsReply.status == 200)
        #expect(metricsReply.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8")
        let metrics = String(decoding: metricsReply.body, as: UTF8.self)
        try StatsTests.checkExpositionFormat(metrics)
        #expect(metrics.contains("\nmtproxy_handshake_failures_total{reason=\"bad_secret\"} 2\n"))

        for body in [statsReply.body, metricsReply.body] {
            let text = String(decoding: body, as: UTF8.self)
            #expect(text.firstMatch(of: /\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}/) == nil)
            #expect(!text.contains(StatsTests.secretHex))
        }

        // Live: the next reading shows new counts.
        stats.probeForwarded()
        let again = try #require(try JSONSerialization.jsonObject(with: Data(await Self.get("/stats", port: port).body)) as? [String: Any])
        #expect(again["probes_forwarded"] as? Int == 2)
    }

    @Test func refusesOtherPathsAndMethods() async throws {
        let server = StatsServer(host: "127.0.0.1", port: 0, stats: StatsTests.busyStats(), logger: Logger(label: "test.stats"))
        let port = try #require(try await server.start().port)
        defer { Task { await server.stop() } }

        #expect(try await Self.get("/", port: port).status == 404)
        #expect(try await Self.get("/statsx", port: port).status == 404)
        let post = try await Self.get("/stats", port: port, method: "POST")
        #expect(post.status == 405)
        #expect(post.headers["allow"] == "GET, HEAD")

        let head = try await Self.get("/metrics", port: port, method: "HEAD")
        #expect(head.status == 200)
        #expect(head.body.isEmpty)
        #expect(Int(head.headers["content-length"] ?? "") ?? 0 > 100)

        let garbage = try await Self.exchange(port: port, "\u{01}\u{02} not http at all\r\n\r\n")
        #expect(String(decoding: garbage, as: UTF8.self).hasPrefix("HTTP/1.1 400"))
        #expect(try await Self.get("/stats", port: port).status == 200)
    }

    @Test func randomBytesNeverStopTheServer() async throws {
        let server = StatsServer(host: "127.0.0.1", port: 0, stats: StatsTests.busyStats(), logger: Logger(label: "test.stats"),
                                 idleTimeout: .milliseconds(200))
        let port = try #require(try await server.start().port)
        defer { Task { await server.stop() } }
        var random = SystemRandomNumberGenerator()
        let pieces = ["GET ", "HEAD ", "POST ", "/stats", "/metrics", " HTTP/1.1", " HTTP/1.0", "\r\n", "\r\n\r\n",
                      "Host: x", "Content-Length: 5", "Transfer-Encoding: chunked", ":", "\u{00}", "\u{FF}", "%2e%2e/", "?a=b"]
        for _ in 0..<40 {
            var request = ""
            for _ in 0..<Int.random(in: 1...12, using: &random) { request += pieces.randomElement(using: &random)! }
            if Bool.random(using: &random) {
                request += String(decoding: (0..<Int.random(in: 1...64, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }, as: UTF8.self)
            }
            let reply = try await Self.exchange(port: port, request)
            let text = String(decoding: reply, as: UTF8.self)
            #expect(reply.isEmpty || text.hasPrefix("HTTP/1."), "\(request.debugDescription)")
        }
        #expect(try await Self.get("/stats", port: port).status == 200)
    }

    @Test func keepAliveServesSeveralRequestsOnOneConnection() async throws {
        let server = StatsServer(host: "127.0.0.1", port: 0, stats: StatsTests.busyStats(), logger: Logger(label: "test.stats"),
                                 idleTimeout: .milliseconds(300))
        let port = try #require(try await server.start().port)
        defer { Task { await server.stop() } }
        let request = "GET /stats HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
        // Both answers arrive, then the idle timeout closes the connection and ends the read.
        let text = String(decoding: try await Self.exchange(port: port, request), as: UTF8.self)
        #expect(text.components(separatedBy: "HTTP/1.1 200 OK").count == 3)
        #expect(text.contains("mtproxy_connections_active"))
    }

    @Test func runsAsAServiceAndStops() async throws {
        let server = StatsServer(host: "127.0.0.1", port: 0, stats: StatsTests.busyStats(), logger: Logger(label: "test.stats"))
        let running = Task { try await server.run() }
        var port: Int?
        for _ in 0..<500 where port == nil {
            port = server.localAddress?.port
            try await Task.sleep(for: .milliseconds(10))
        }
        let bound = try #require(port)
        #expect(try await Self.get("/stats", port: bound).status == 200)
        running.cancel()
        try await running.value
        // That a stopped server serves nothing more is HTTPPageServerTests' to show: the port
        // itself may already be another test's listener.
        #expect(server.localAddress == nil)
        await #expect(throws: (any Error).self) { try await server.start() }
    }
}
