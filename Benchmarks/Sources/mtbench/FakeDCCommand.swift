import ArgumentParser
import BenchmarkPeers
import Dispatch
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

struct FakeDCCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fake-dc",
        abstract: "Listen as a Telegram DC: keyless obfuscated2 server side, resPQ answers, bulk transfers.",
        discussion: "Runs until SIGTERM or SIGINT, then prints what it saw.")

    @Option(help: "Listen address, host:port (loopback only).")
    var listen: String

    @Option(help: "obfuscated2, or plain for a relay that does no crypto.")
    var encryption: PeerEncryption = .obfuscated2

    func run() async throws {
        let address = try loopbackAddress(listen)
        let tally = FakeDCTally()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let encryption = self.encryption
        let server = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.writeBufferWaterMark, value: .init(low: 256 << 10, high: 1 << 20))
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(FakeDCHandler(encryption: encryption, tally: tally))
                }
            }
            .bind(to: address).get()
        print("fake DC listening on \(listen) (\(encryption.rawValue))")
        fflush(nil)

        let stop = DispatchQueue(label: "fake-dc.signals")
        var sources: [any DispatchSourceSignal] = []
        for signalNumber in [SIGTERM, SIGINT] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: stop)
            source.setEventHandler {
                server.close(promise: nil)
            }
            source.resume()
            sources.append(source)
        }
        try await server.closeFuture.get()
        print(tally.summary)
        try await group.shutdownGracefully()
    }
}

extension PeerEncryption: ExpressibleByArgument {}

/// Benchmarks send traffic to loopback addresses only (team rule, DESIGN.md).
func loopbackAddress(_ text: String) throws -> SocketAddress {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else {
        throw ValidationError("\(text): expected host:port")
    }
    let host = String(text[..<colon]).trimmingCharacters(in: ["[", "]"])
    guard host.hasPrefix("127.") || host == "::1" else {
        throw ValidationError("\(text): benchmarks only use loopback addresses")
    }
    return try SocketAddress(ipAddress: host, port: port)
}
