import NIOCore

/// The bulk transfer both peers send: a run of padded-intermediate frames of 32 KiB of
/// zeros each, the way a client uploads or downloads a file in parts.
public enum BulkStream {
    public static let payloadLength = 32_768
    public static let frameLength = 4 + payloadLength
    /// Frames per write: large writes keep the peers' per-call cost below the relay's.
    static let framesPerChunk = 4
}

/// Produces the sender's side of a bulk stream, sealed for the wire, chunk by chunk.
public struct BulkSource {
    public private(set) var framesLeft: Int

    public init(frames: Int) {
        framesLeft = frames
    }

    public mutating func nextChunk(allocator: ByteBufferAllocator, leg: CipherLeg) -> ByteBuffer? {
        guard framesLeft > 0 else { return nil }
        let frames = min(framesLeft, BulkStream.framesPerChunk)
        framesLeft -= frames
        var chunk = allocator.buffer(capacity: frames * BulkStream.frameLength)
        for _ in 0..<frames {
            chunk.writeInteger(UInt32(BulkStream.payloadLength), endianness: .little)
            chunk.writeRepeatingByte(0, count: BulkStream.payloadLength)
        }
        leg.seal(&chunk)
        return chunk
    }
}

/// Follows the receiver's side of a bulk stream after decryption and checks every frame's
/// length field, which any keystream or ordering error in the relay turns into noise.
/// Payload bytes are counted, not compared, to keep the checker's cost far below the relay's.
public struct BulkChecker {
    public let expectedFrames: Int
    public private(set) var completeFrames = 0
    private var lengthBytes: UInt32 = 0
    private var lengthBytesSeen = 0
    private var payloadLeft = 0

    public init(expectedFrames: Int) {
        self.expectedFrames = expectedFrames
    }

    public var isComplete: Bool { completeFrames == expectedFrames && lengthBytesSeen == 0 }

    public mutating func consume(_ buffer: ByteBuffer) throws(BenchmarkError) {
        var index = buffer.readerIndex
        let end = buffer.writerIndex
        while index < end {
            if payloadLeft > 0 {
                let step = min(payloadLeft, end - index)
                payloadLeft -= step
                index += step
                if payloadLeft == 0 { completeFrames += 1 }
                continue
            }
            guard completeFrames < expectedFrames else { throw .moreDataThanRequested }
            lengthBytes |= UInt32(buffer.getInteger(at: index, as: UInt8.self)!) << (8 * lengthBytesSeen)
            lengthBytesSeen += 1
            index += 1
            if lengthBytesSeen == 4 {
                guard lengthBytes == UInt32(BulkStream.payloadLength) else {
                    throw .corruptBulkFrame(frame: completeFrames)
                }
                payloadLeft = BulkStream.payloadLength
                lengthBytes = 0
                lengthBytesSeen = 0
            }
        }
    }
}
