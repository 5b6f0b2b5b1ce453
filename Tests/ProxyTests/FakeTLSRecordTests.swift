import NIOCore
import Testing
@testable import Proxy

@Suite struct FakeTLSRecordTests {
    static func record(_ type: UInt8, _ payload: [UInt8], version: UInt16 = 0x0303) -> [UInt8] {
        [type, UInt8(version >> 8), UInt8(version & 0xff), UInt8(payload.count >> 8), UInt8(payload.count & 0xff)] + payload
    }

    static func decode(_ wire: [UInt8], chunks: [Int]) throws(FakeTLSError) -> [UInt8] {
        var decoder = FakeTLSRecordDecoder()
        var output = ByteBuffer()
        var start = 0
        for size in chunks + [wire.count] where start < wire.count {
            let end = min(wire.count, start + size)
            var input = ByteBuffer(bytes: wire[start..<end])
            try decoder.decode(&input, into: &output)
            #expect(input.readableBytes == 0)
            start = end
        }
        return Array(buffer: output)
    }

    @Test func unwrapsTheClientStreamAtEverySplit() throws {
        let first = (0..<100).map { UInt8($0) }, second = [UInt8](repeating: 0xab, count: 2878)
        let wire = Self.record(0x14, [0x01]) + Self.record(0x17, first) + Self.record(0x17, [])
            + Self.record(0x17, second) + Self.record(0x14, [0x01]) + Self.record(0x17, [7])
        for split in 0...wire.count {
            #expect(try Self.decode(wire, chunks: [split]) == first + second + [7], "split at \(split)")
        }
        var generator = SeededGenerator(seed: 7)
        for _ in 0..<200 {
            let chunks = (0..<20).map { _ in Int.random(in: 1...300, using: &generator) }
            #expect(try Self.decode(wire, chunks: chunks) == first + second + [7])
        }
    }

    @Test func payloadsStreamBeforeTheirRecordEnds() throws {
        var decoder = FakeTLSRecordDecoder()
        var input = ByteBuffer(bytes: Self.record(0x17, [1, 2, 3, 4])[0..<7])
        let payload = try #require(try decoder.nextPayload(from: &input))
        #expect(Array(buffer: payload) == [1, 2])
        #expect(try decoder.nextPayload(from: &input) == nil)
        var rest = ByteBuffer(bytes: [3, 4])
        #expect(try decoder.nextPayload(from: &rest).map { Array(buffer: $0) } == [3, 4])
        #expect(decoder.streamOffset == 9)
    }

    @Test func acceptsTheLargestPayload() throws {
        let payload = [UInt8](repeating: 5, count: FakeTLSRecordDecoder.maximumPayloadLength)
        #expect(try Self.decode(Self.record(0x17, payload), chunks: [1000]) == payload)
    }

    @Test(arguments: [
        (record(0x17, [UInt8](repeating: 0, count: 16_641)), "record length", 3),
        (record(0x17, [1], version: 0x0301), "record version", 1),
        (record(0x15, [2, 40]), "record type", 0),
        (record(0x16, [1, 0, 0, 0]), "record type", 0),
        (record(0x14, [1, 1]), "ChangeCipherSpec length", 3),
        (record(0x14, [2]), "ChangeCipherSpec payload", 5),
        (record(0x17, [9]) + record(0x15, [2, 0]), "record type", 6),
    ] as [([UInt8], String, Int)])
    func refusesWhatIsNotTheTunnel(_ wire: [UInt8], _ field: String, _ offset: Int) {
        #expect {
            _ = try Self.decode(wire, chunks: [3])
        } throws: { error in
            let error = error as? FakeTLSError
            return error?.field == field && error?.offset == offset && error?.reason == "malformed"
        }
    }

    @Test(arguments: [0, 1, 1425, 16_384, 16_385, 100_000])
    func encoderRoundTrip(_ length: Int) throws {
        let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        for encoder in [FakeTLSRecordEncoder(), FakeTLSRecordEncoder(recordPayloadLength: 1425)] {
            var input = ByteBuffer(bytes: payload)
            var output = ByteBuffer()
            encoder.encode(&input, into: &output)
            #expect(input.readableBytes == 0)
            #expect(output.readableBytes == encoder.encodedLength(of: length))
            var offset = output.readerIndex
            while offset < output.writerIndex {
                #expect(output.getBytes(at: offset, length: 3) == [0x17, 0x03, 0x03])
                let size = Int(output.getInteger(at: offset + 3, as: UInt16.self)!)
                #expect(size >= 1 && size <= encoder.recordPayloadLength)
                offset += 5 + size
            }
            #expect(try Self.decode(Array(buffer: output), chunks: [4096]) == payload)
        }
    }
}
