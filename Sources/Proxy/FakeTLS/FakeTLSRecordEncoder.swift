import NIOCore

/// Wraps proxy→client bytes in `17 03 03` ApplicationData records (PROTOCOL.md §4.5).
///
/// Payloads are capped at 2^14 bytes: older tdlib readers close the connection on
/// anything longer, so the peers that send 16 408 or 16 640 risk breaking clients.
public struct FakeTLSRecordEncoder: Sendable {
    public static let maximumPayloadLength = 16_384

    /// Payload bytes per record, 1…16 384.
    public let recordPayloadLength: Int

    public init(recordPayloadLength: Int = FakeTLSRecordEncoder.maximumPayloadLength) {
        precondition((1...Self.maximumPayloadLength).contains(recordPayloadLength),
                     "a TLS record payload is 1…16384 bytes")
        self.recordPayloadLength = recordPayloadLength
    }

    /// The number of bytes `encode` writes for `payloadLength` bytes.
    public func encodedLength(of payloadLength: Int) -> Int {
        payloadLength + 5 * ((payloadLength + recordPayloadLength - 1) / recordPayloadLength)
    }

    /// Consumes every readable byte of `payload` and appends the records to `output`;
    /// space is reserved once and each run of payload is one bulk copy.
    public func encode(_ payload: inout ByteBuffer, into output: inout ByteBuffer) {
        output.reserveCapacity(minimumWritableBytes: encodedLength(of: payload.readableBytes))
        while payload.readableBytes > 0 {
            let chunk = payload.readSlice(length: min(payload.readableBytes, recordPayloadLength))!
            output.writeInteger(UInt8(0x17))
            output.writeInteger(UInt16(0x0303))
            output.writeInteger(UInt16(chunk.readableBytes))
            output.writeImmutableBuffer(chunk)
        }
    }
}
