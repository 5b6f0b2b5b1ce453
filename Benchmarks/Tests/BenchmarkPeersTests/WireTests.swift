@testable import BenchmarkPeers
import MTCrypto
import NIOCore
import Testing

@Suite struct WireTests {
    @Test func requestsSurviveTheirEncoding() throws {
        let nonce = SecureRandom.bytes(16)
        #expect(try Request(payload: Request.reqPQ(nonce: nonce).payload) == .reqPQ(nonce: nonce))
        #expect(try Request(payload: Request.bulk(uploadFrames: 7, downloadFrames: 70_000).payload)
                == .bulk(uploadFrames: 7, downloadFrames: 70_000))
        #expect(Request.reqPQ(nonce: nonce).payload.count == 40)
    }

    @Test func resPQCarriesTheNonceAndAServerMessageID() throws {
        let nonce = SecureRandom.bytes(16)
        let payload = ResPQ(nonce: nonce).payload
        #expect(payload.count == 84)
        #expect(try ResPQ(payload: payload).nonce == nonce)
        #expect(throws: BenchmarkError.self) { try ResPQ(payload: Request.reqPQ(nonce: nonce).payload) }
    }

    @Test func unknownOrShortMessagesAreErrors() {
        #expect(throws: BenchmarkError.self) { try Request(payload: [UInt8](repeating: 0, count: 10)) }
        #expect(throws: BenchmarkError.self) { try Request(payload: [UInt8](repeating: 1, count: 40)) }
        let lying = [UInt8](repeating: 0, count: 16) + [200, 0, 0, 0] + [1, 2, 3, 4]
        #expect(throws: BenchmarkError.self) { try Request(payload: lying) }
    }

    @Test func framesAreTakenWholeOrNotAtAll() throws {
        let frame = PaddedIntermediate.frame([1, 2, 3, 4, 5, 6, 7, 8])
        var buffer = ByteBuffer(bytes: frame[0..<6])
        #expect(try PaddedIntermediate.takeFrame(from: &buffer, maxLength: 64) == nil)
        buffer.writeBytes(frame[6...])
        buffer.writeBytes([9])
        #expect(try PaddedIntermediate.takeFrame(from: &buffer, maxLength: 64) == [1, 2, 3, 4, 5, 6, 7, 8])
        #expect(buffer.readableBytes == 1)

        var long = ByteBuffer(bytes: PaddedIntermediate.frame([UInt8](repeating: 0, count: 128)))
        #expect(throws: BenchmarkError.frameTooLong(128)) { try PaddedIntermediate.takeFrame(from: &long, maxLength: 64) }
    }

    @Test(arguments: [1, 3, 4_099, 100_000])
    func bulkStreamChecksOutInAnyPieces(pieceSize: Int) throws {
        let (wire, client) = ObfuscatedHeader.random(tag: .paddedIntermediate, dc: 2, secret: nil).initiatorLeg()
        let (_, _, server) = ObfuscatedHeader.accept(wire: wire, secret: nil)
        var source = BulkSource(frames: 9)
        var checker = BulkChecker(expectedFrames: 9)
        var stream = ByteBuffer()
        while var chunk = source.nextChunk(allocator: ByteBufferAllocator(), leg: client) {
            stream.writeBuffer(&chunk)
        }
        #expect(stream.readableBytes == 9 * BulkStream.frameLength)
        while stream.readableBytes > 0 {
            var piece = stream.readSlice(length: min(pieceSize, stream.readableBytes))!
            server.open(&piece)
            #expect(!checker.isComplete)
            try checker.consume(piece)
        }
        #expect(checker.isComplete)
        #expect(throws: BenchmarkError.moreDataThanRequested) { try checker.consume(ByteBuffer(bytes: [0])) }
    }

    @Test func aWrongKeystreamIsCaughtAtTheFirstFrame() {
        var source = BulkSource(frames: 2)
        let (_, sender) = ObfuscatedHeader.random(tag: .paddedIntermediate, dc: 2, secret: nil).initiatorLeg()
        let (wire, _) = ObfuscatedHeader.random(tag: .paddedIntermediate, dc: 2, secret: nil).initiatorLeg()
        let (_, _, stranger) = ObfuscatedHeader.accept(wire: wire, secret: nil)
        var chunk = source.nextChunk(allocator: ByteBufferAllocator(), leg: sender)!
        stranger.open(&chunk)
        var checker = BulkChecker(expectedFrames: 2)
        #expect(throws: BenchmarkError.corruptBulkFrame(frame: 0)) { try checker.consume(chunk) }
    }

    @Test func procStatFieldsAreCountedAfterTheCommandName() {
        let stat = "4242 (we (ird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 100 1000 200"
        #expect(ProcessSample.cpuSeconds(stat: stat) == 3.0)
        #expect(ProcessSample.residentKiB(status: "Name:\tx\nVmRSS:\t   12345 kB\nThreads: 3\n") == 12345)
    }
}
