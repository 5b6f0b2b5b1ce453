import CMTOpenSSL

/// SHA-256, one-shot or incremental.
public struct SHA256: ~Copyable {
    public static let byteCount = 32
    private let context: OpaquePointer

    public init() {
        guard let context = EVP_MD_CTX_new() else { fatalError("EVP_MD_CTX_new failed: out of memory") }
        precondition(EVP_DigestInit_ex(context, Self.digest, nil) == 1, "EVP_DigestInit_ex failed")
        self.context = context
    }

    /// Fetched once, as `AESCTR.cipher`: spares OpenSSL 3's implicit fetch at every init.
    nonisolated(unsafe) private static let digest: OpaquePointer = {
        guard let digest = EVP_MD_fetch(nil, "SHA256", nil) else { fatalError("EVP_MD_fetch(SHA256) failed") }
        return digest
    }()

    deinit { EVP_MD_CTX_free(context) }

    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        guard buffer.count > 0 else { return }
        precondition(EVP_DigestUpdate(context, buffer.baseAddress, buffer.count) == 1, "EVP_DigestUpdate failed")
    }

    public mutating func update(_ bytes: some Sequence<UInt8>) {
        let handled: Void? = bytes.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
        if handled == nil {
            let copy = Array(bytes)
            copy.withUnsafeBytes { update($0) }
        }
    }

    public consuming func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.byteCount)
        var length: UInt32 = 0
        precondition(EVP_DigestFinal_ex(context, &out, &length) == 1 && length == 32, "EVP_DigestFinal_ex failed")
        return out
    }

    public static func hash(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(bytes)
        return hasher.finalize()
    }
}

/// HMAC-SHA256.
public enum HMACSHA256 {
    public static let byteCount = 32

    public static func authenticationCode(key: some Collection<UInt8>, data: UnsafeRawBufferPointer) -> [UInt8] {
        let keyBytes = Array(key)
        var out = [UInt8](repeating: 0, count: byteCount)
        var length: UInt32 = 0
        let result = keyBytes.withUnsafeBytes { keyPointer in
            HMAC(EVP_sha256(), keyPointer.baseAddress, Int32(keyPointer.count),
                 data.baseAddress?.assumingMemoryBound(to: UInt8.self), data.count, &out, &length)
        }
        precondition(result != nil && length == 32, "HMAC-SHA256 failed")
        return out
    }

    public static func authenticationCode(key: some Collection<UInt8>, data: some Sequence<UInt8>) -> [UInt8] {
        let bytes = Array(data)
        return bytes.withUnsafeBytes { authenticationCode(key: key, data: $0) }
    }
}

/// Compares two byte strings in time that depends only on their length.
public func constantTimeEquals(_ lhs: some Collection<UInt8>, _ rhs: some Collection<UInt8>) -> Bool {
    let a = Array(lhs)
    let b = Array(rhs)
    guard a.count == b.count else { return false }
    if a.isEmpty { return true }
    return a.withUnsafeBytes { pa in
        b.withUnsafeBytes { pb in CRYPTO_memcmp(pa.baseAddress, pb.baseAddress, pa.count) == 0 }
    }
}

/// Bytes from OpenSSL's CSPRNG (seeded from the kernel's getrandom).
public enum SecureRandom {
    public static func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        fill(&out)
        return out
    }

    public static func fill(_ bytes: inout [UInt8]) {
        guard !bytes.isEmpty else { return }
        let ok = bytes.withUnsafeMutableBytes { RAND_bytes($0.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32($0.count)) }
        precondition(ok == 1, "RAND_bytes failed: the CSPRNG is unavailable")
    }
}

extension Sequence<UInt8> {
    /// Lower-case hexadecimal.
    public var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(underestimatedCount * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension Array where Element == UInt8 {
    /// Parses hexadecimal (either case, even length); nil on anything else.
    public init?(hex: some StringProtocol) {
        let utf8 = Array(hex.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        self = out
    }
}
