import NIOCore

/// Unwraps the client's records after the handshake (PROTOCOL.md §4.5) into one byte
/// stream: ChangeCipherSpec records are skipped, ApplicationData payloads are passed on,
/// anything else is an error.
///
/// Streaming: payload bytes are handed out as soon as they arrive, without waiting for
/// the end of their record, so nothing but a partial 5-byte header is ever held back and
/// the relay's latency does not depend on record sizes. Payloads come out as slices of the
/// input buffer; the caller decides whether to copy.
public struct FakeTLSRecordDecoder: Sendable {
    /// Largest ApplicationData payload accepted (telemt's limit: 2^14 + 256).
    public static let maximumPayloadLength = 16_640

    private enum State: Sendable {
        case header
        case changeCipherSpec
        case applicationData(remaining: Int)
    }

    private var state = State.header
    private var pendingHeader: (UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0)
    private var pendingHeaderCount = 0
    /// Bytes of the record stream consumed so far, for error offsets.
    public private(set) var streamOffset = 0

    public init() {}

    /// The next run of payload bytes from `input`, or nil once `input` is used up (a
    /// partial header is kept inside the decoder, so `input` is always fully consumed when
    /// nil comes back).
    public mutating func nextPayload(from input: inout ByteBuffer) throws(FakeTLSError) -> ByteBuffer? {
        while input.readableBytes > 0 {
            switch state {
            case .applicationData(let remaining):
                let count = min(remaining, input.readableBytes)
                state = count == remaining ? .header : .applicationData(remaining: remaining - count)
                streamOffset += count
                return input.readSlice(length: count)!
            case .changeCipherSpec:
                guard input.readInteger(as: UInt8.self) == 0x01 else {
                    throw .malformed("ChangeCipherSpec payload", at: streamOffset)
                }
                streamOffset += 1
                state = .header
            case .header:
                try readHeader(from: &input)
            }
        }
        return nil
    }

    /// Appends every payload byte in `input` to `output`: one bulk copy per run.
    public mutating func decode(_ input: inout ByteBuffer, into output: inout ByteBuffer) throws(FakeTLSError) {
        while let payload = try nextPayload(from: &input) {
            output.writeImmutableBuffer(payload)
        }
    }

    private mutating func readHeader(from input: inout ByteBuffer) throws(FakeTLSError) {
        let type: UInt8, version: UInt16, length: Int
        if pendingHeaderCount == 0, input.readableBytes >= 5 {
            type = input.readInteger(as: UInt8.self)!
            version = input.readInteger(as: UInt16.self)!
            length = Int(input.readInteger(as: UInt16.self)!)
        } else {
            while pendingHeaderCount < 5, let byte = input.readInteger(as: UInt8.self) {
                let index = pendingHeaderCount
                withUnsafeMutableBytes(of: &pendingHeader) { $0[index] = byte }
                pendingHeaderCount += 1
            }
            guard pendingHeaderCount == 5 else { return }
            pendingHeaderCount = 0
            type = pendingHeader.0
            version = UInt16(pendingHeader.1) << 8 | UInt16(pendingHeader.2)
            length = Int(pendingHeader.3) << 8 | Int(pendingHeader.4)
        }
        let recordOffset = streamOffset
        streamOffset += 5
        guard version == 0x0303 else { throw .malformed("record version", at: recordOffset + 1) }
        switch type {
        case 0x17:
            guard length <= Self.maximumPayloadLength else { throw .malformed("record length", at: recordOffset + 3) }
            state = length == 0 ? .header : .applicationData(remaining: length)
        case 0x14:
            guard length == 1 else { throw .malformed("ChangeCipherSpec length", at: recordOffset + 3) }
            state = .changeCipherSpec
        default:
            throw .malformed("record type", at: recordOffset)
        }
    }
}
