#if canImport(Glibc)
import Glibc
#endif
import MTCrypto
import NIOCore

/// Padded-intermediate framing (PROTOCOL.md §2.5): a 4-byte little-endian length, then the
/// payload. The benchmark's own frames carry no padding; the length stays a multiple of 4.
public enum PaddedIntermediate {
    public static func frame(_ payload: [UInt8]) -> [UInt8] {
        withUnsafeBytes(of: UInt32(payload.count).littleEndian, Array.init) + payload
    }

    /// Takes one whole frame off the front of `buffer`, or nil while it is incomplete.
    public static func takeFrame(from buffer: inout ByteBuffer, maxLength: Int) throws(BenchmarkError) -> [UInt8]? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt32.self) else {
            return nil
        }
        guard length <= maxLength else { throw .frameTooLong(Int(length)) }
        guard buffer.readableBytes >= 4 + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        return buffer.readBytes(length: Int(length))
    }
}

/// The first message of a connection, as an unencrypted MTProto message (§6): auth_key_id 0,
/// a message id, the body length, the body. `req_pq` is what a real client starts with;
/// `bulk` is the benchmark's own request for a long transfer in both directions.
public enum Request: Sendable, Equatable {
    case reqPQ(nonce: [UInt8])
    case bulk(uploadFrames: UInt32, downloadFrames: UInt32)

    static let reqPQConstructor: UInt32 = 0x6046_9778
    static let bulkConstructor: UInt32 = 0x6b6c_7562

    public var payload: [UInt8] {
        switch self {
        case .reqPQ(let nonce):
            return UnencryptedMessage.payload(messageID: UnencryptedMessage.clientMessageID(),
                                              body: littleEndian(Self.reqPQConstructor) + nonce)
        case .bulk(let upload, let download):
            return UnencryptedMessage.payload(messageID: UnencryptedMessage.clientMessageID(),
                                              body: littleEndian(Self.bulkConstructor) + littleEndian(upload) + littleEndian(download))
        }
    }

    public init(payload: [UInt8]) throws(BenchmarkError) {
        let body = try UnencryptedMessage.body(of: payload)
        let constructor: UInt32 = readLittleEndian(body, at: 0)
        switch (constructor, body.count) {
        case (Self.reqPQConstructor, 20):
            self = .reqPQ(nonce: Array(body[4..<20]))
        case (Self.bulkConstructor, 12):
            self = .bulk(uploadFrames: readLittleEndian(body, at: 4), downloadFrames: readLittleEndian(body, at: 8))
        default:
            throw .unexpectedMessage("an unknown request")
        }
    }
}

/// The fake DC's answer to `req_pq`: `resPQ` with the client's nonce, shaped like a real one
/// (nonce, server nonce, an 8-byte pq string, one key fingerprint): 84 bytes of payload.
public struct ResPQ: Sendable, Equatable {
    static let constructor: UInt32 = 0x0516_2463
    static let vectorConstructor: UInt32 = 0x1cb5_c415

    public let nonce: [UInt8]

    public init(nonce: [UInt8]) {
        self.nonce = nonce
    }

    public var payload: [UInt8] {
        let pq: [UInt8] = [8, 0x17, 0xed, 0x48, 0x94, 0x1a, 0x08, 0xf9, 0x81, 0, 0, 0]
        let fingerprints = littleEndian(Self.vectorConstructor) + littleEndian(UInt32(1)) + SecureRandom.bytes(8)
        let body = littleEndian(Self.constructor) + nonce + SecureRandom.bytes(16) + pq + fingerprints
        return UnencryptedMessage.payload(messageID: UnencryptedMessage.clientMessageID() | 1, body: body)
    }

    public init(payload: [UInt8]) throws(BenchmarkError) {
        let body = try UnencryptedMessage.body(of: payload)
        let messageID: UInt64 = readLittleEndian(payload, at: 8)
        guard messageID % 4 == 1 else {
            throw .unexpectedMessage("a response whose message id is not a server's")
        }
        guard body.count >= 20, readLittleEndian(body, at: 0) == Self.constructor else {
            throw .unexpectedMessage("a response that is not resPQ")
        }
        nonce = Array(body[4..<20])
    }
}

enum UnencryptedMessage {
    static func payload(messageID: UInt64, body: [UInt8]) -> [UInt8] {
        [UInt8](repeating: 0, count: 8) + littleEndian(messageID) + littleEndian(UInt32(body.count)) + body
    }

    static func body(of payload: [UInt8]) throws(BenchmarkError) -> [UInt8] {
        guard payload.count >= 20, payload[0..<8].allSatisfy({ $0 == 0 }) else {
            throw .unexpectedMessage("a message that is not unencrypted")
        }
        let length = Int(readLittleEndian(payload, at: 16) as UInt32)
        guard payload.count >= 20 + length else {
            throw .unexpectedMessage("a message shorter than its body length")
        }
        return Array(payload[20..<(20 + length)])
    }

    /// Unix time × 2³², divisible by 4, as a client's message id must be.
    static func clientMessageID() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let fraction = UInt64(now.tv_nsec) << 2  // nanoseconds < 2³⁰: about 2³² per second
        return (UInt64(now.tv_sec) << 32 | fraction) & ~3
    }
}

func littleEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian, Array.init)
}

func readLittleEndian<T: FixedWidthInteger, C: Collection<UInt8>>(_ bytes: C, at offset: Int) -> T where C.Index == Int {
    let start = bytes.startIndex + offset
    var value: T = 0
    for index in (0..<MemoryLayout<T>.size).reversed() {
        value = value << 8 | T(bytes[start + index])
    }
    return value
}
