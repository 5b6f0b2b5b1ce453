@testable import BenchmarkPeers
import NIOCore
import NIOEmbedded
import Testing

/// The load client's and the fake DC's handlers talking through a perfect relay: bytes
/// are carried between two embedded channels unchanged.
@Suite struct PeerHandlerTests {
    private static let secret = [UInt8](repeating: 0x42, count: 16)

    /// In obfuscated2 the client speaks with a secret and the DC keyless, so a relay that does
    /// not re-encrypt must break the transfer; plain mode shares one (empty) cipher set.
    @Test func plainPeersCompleteARoundTripAndABulkTransfer() throws {
        for work in [LoadConnectionHandler.Work.roundTrip, .bulk(uploadFrames: 5, downloadFrames: 7)] {
            let (client, dc, outcome, tally) = try connect(work: work, encryption: .plain)
            try shuttle(client, dc)
            #expect(try outcome.isFulfilledSuccessfully(), "\(work)")
            if case .bulk = work {
                #expect(tally.summary.contains("1 bulk transfers, 0 errors"))
            } else {
                #expect(tally.summary.contains("1 req_pq answered"))
            }
            _ = try? client.finish()
            _ = try? dc.finish()
        }
    }

    @Test func obfuscatedPeersNeedARelayThatReencrypts() throws {
        let (client, dc, outcome, tally) = try connect(work: .roundTrip, encryption: .obfuscated2)
        try shuttle(client, dc)
        #expect(!(try outcome.isFulfilledSuccessfully()))
        #expect(tally.summary.contains("1 errors"))
    }

    @Test func aBulkTransferCutShortFails() throws {
        let (client, dc, outcome, _) = try connect(work: .bulk(uploadFrames: 3, downloadFrames: 3), encryption: .plain)
        _ = try client.readOutbound(as: ByteBuffer.self)
        try client.close().wait()
        _ = dc
        #expect(!(try outcome.isFulfilledSuccessfully()))
    }

    private func connect(work: LoadConnectionHandler.Work, encryption: PeerEncryption) throws
        -> (EmbeddedChannel, EmbeddedChannel, EventLoopFuture<Void>, FakeDCTally)
    {
        let client = EmbeddedChannel()
        let outcome = client.eventLoop.makePromise(of: Void.self)
        try client.pipeline.syncOperations.addHandler(
            LoadConnectionHandler(work: work, encryption: encryption, secret: Self.secret, outcome: outcome))
        let tally = FakeDCTally()
        let dc = EmbeddedChannel(handler: FakeDCHandler(encryption: encryption, tally: tally))
        try client.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        try dc.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 2)).wait()
        return (client, dc, outcome.futureResult, tally)
    }

    /// Moves bytes both ways until neither side has anything left, then tells the client
    /// when the DC has closed.
    private func shuttle(_ client: EmbeddedChannel, _ dc: EmbeddedChannel) throws {
        var moved = true
        while moved {
            moved = false
            while let bytes = try client.readOutbound(as: ByteBuffer.self) {
                guard dc.isActive else { break }
                try dc.writeInbound(bytes)
                moved = true
            }
            while let bytes = try dc.readOutbound(as: ByteBuffer.self) {
                try client.writeInbound(bytes)
                moved = true
            }
        }
        if !dc.isActive, client.isActive {
            try client.close().wait()
        }
    }
}

private extension EventLoopFuture where Value == Void {
    /// Embedded event loops run callbacks at once, so an unfulfilled future reads as false.
    func isFulfilledSuccessfully() throws -> Bool {
        var succeeded = false
        assumeIsolated().whenSuccess { succeeded = true }
        return succeeded
    }
}
