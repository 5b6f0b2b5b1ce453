import NIOCore

/// Reassembles a ClientHello from whatever TCP segments the client's bytes arrive in.
///
/// Feed it every chunk read from the connection until it answers something other than
/// `needMoreBytes`. The hello may span up to ten handshake records of at most 16 KiB
/// each (PROTOCOL.md §4.3.1–3); the reader rebuilds the single-record image the client's
/// HMAC covers. Every answer that ends the handshake hands back the bytes read so far, so
/// a caller can forward them unchanged to the fronting site.
///
/// Memory is bounded by the record rules: at most 10 × (5 + 16 384) bytes are buffered,
/// and a hello longer than a single record can describe is refused as soon as its
/// handshake header says so.
public struct ClientHelloReader: Sendable {
    public enum Step: Sendable {
        /// Not enough bytes yet to decide; feed the next chunk.
        case needMoreBytes
        /// The first bytes are not a TLS handshake record. `received` is everything read.
        case notTLS(received: ByteBuffer)
        /// TLS-shaped but broken. `received` is everything read.
        case malformed(FakeTLSError, received: ByteBuffer)
        /// A complete hello. `received` holds exactly its records; `trailing` is whatever
        /// the client sent after them (normally nothing: clients wait for the ServerHello).
        case hello(ClientHello, received: ByteBuffer, trailing: ByteBuffer)
    }

    public static let maximumRecordCount = 10
    public static let maximumRecordLength = 16_384
    /// Shortest hello record (`len16` of the single-record image) accepted: tdlib pads
    /// to 512, so do alexbers and seriyps (`TLS_CLIENT_HELLO_MIN_LEN`).
    public static let minimumHelloLength = 512
    /// The single-record image has a 16-bit length.
    public static let maximumHelloLength = 0xffff

    private var received = ByteBuffer()
    /// Offset (from `received.readerIndex`) of the next record header not yet taken in.
    private var nextRecord = 0
    private var payloads: [Range<Int>] = []
    private var handshakeBytes = 0
    /// `4 + len24` once the handshake header has arrived.
    private var handshakeLength: Int?
    private var recordVersion: UInt16 = 0
    private var finished = false

    public init() {}

    /// Every byte read so far, for a caller that gives up waiting (the handshake timeout).
    public var bytesRead: ByteBuffer { received }

    /// Takes the next chunk from the client and says what is known now.
    public mutating func read(_ chunk: ByteBuffer) -> Step {
        guard !finished else {
            return .malformed(.malformed("bytes after the hello was decided"), received: chunk)
        }
        if received.readableBytes == 0 {
            received = chunk
        } else {
            received.writeImmutableBuffer(chunk)
        }
        let step = advance()
        if case .needMoreBytes = step {} else { finished = true }
        return step
    }

    private mutating func advance() -> Step {
        if nextRecord == 0, let verdict = detect() { return verdict }
        while true {
            let available = received.readableBytes - nextRecord
            guard available >= 5 else { return .needMoreBytes }
            let base = received.readerIndex + nextRecord
            let type = received.getInteger(at: base, as: UInt8.self)!
            let version = received.getInteger(at: base + 1, as: UInt16.self)!
            let length = Int(received.getInteger(at: base + 3, as: UInt16.self)!)
            if nextRecord == 0 {
                recordVersion = version
            } else {
                guard type == 0x16 else { return malformed("continuation record type", at: nextRecord) }
                guard version == recordVersion else { return malformed("continuation record version", at: nextRecord + 1) }
            }
            guard length > 0, length <= Self.maximumRecordLength else { return malformed("record length", at: nextRecord + 3) }
            guard available >= 5 + length else { return .needMoreBytes }

            payloads.append(nextRecord + 5..<nextRecord + 5 + length)
            handshakeBytes += length
            nextRecord += 5 + length

            if handshakeLength == nil, handshakeBytes >= 4 {
                let header = payloadPrefix(4)
                guard header[0] == 0x01 else { return malformed("handshake type", at: payloads[0].lowerBound) }
                let total = 4 + (Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3]))
                guard total >= Self.minimumHelloLength, total <= Self.maximumHelloLength else {
                    return malformed("handshake length", at: payloads[0].lowerBound + 1)
                }
                handshakeLength = total
            }
            if let handshakeLength {
                if handshakeBytes == handshakeLength { return finish() }
                guard handshakeBytes < handshakeLength else {
                    return malformed("bytes after the handshake message", at: nextRecord - (handshakeBytes - handshakeLength))
                }
            }
            guard payloads.count < Self.maximumRecordCount else { return malformed("record count", at: nextRecord) }
        }
    }

    /// The first three bytes decide TLS or not; answers as soon as one byte disagrees.
    private func detect() -> Step? {
        let start = received.readerIndex
        let prefix: [UInt8] = [0x16, 0x03]
        for index in 0..<min(received.readableBytes, 2) where received.getInteger(at: start + index, as: UInt8.self) != prefix[index] {
            return .notTLS(received: received)
        }
        guard received.readableBytes >= 3 else { return .needMoreBytes }
        let minor = received.getInteger(at: start + 2, as: UInt8.self)!
        return minor == 0x01 || minor == 0x03 ? nil : .notTLS(received: received)
    }

    private func payloadPrefix(_ count: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        for range in payloads where out.count < count {
            let take = min(count - out.count, range.count)
            out += received.getBytes(at: received.readerIndex + range.lowerBound, length: take)!
        }
        return out
    }

    private func finish() -> Step {
        var image: [UInt8] = []
        image.reserveCapacity(5 + handshakeBytes)
        image += [0x16, UInt8(recordVersion >> 8), UInt8(recordVersion & 0xff),
                  UInt8(handshakeBytes >> 8), UInt8(handshakeBytes & 0xff)]
        for range in payloads {
            received.withUnsafeReadableBytes { image += $0[range] }
        }
        var rest = received
        let records = rest.readSlice(length: nextRecord)!
        do {
            let hello = try ClientHello.parse(image: image, recordCount: payloads.count)
            return .hello(hello, received: records, trailing: rest)
        } catch {
            return .malformed(imageErrorOnWire(error), received: received)
        }
    }

    /// Parse errors carry image offsets; for one record the image is the wire.
    private func imageErrorOnWire(_ error: FakeTLSError) -> FakeTLSError {
        payloads.count == 1 ? error : FakeTLSError(error.code, error.field + " (reassembled)", offset: error.offset)
    }

    private func malformed(_ field: String, at offset: Int) -> Step {
        .malformed(.malformed(field, at: offset), received: received)
    }
}
