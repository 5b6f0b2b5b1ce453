import CMTOpenSSL

/// AES-256 in counter mode with one continuous keystream for the life of the object.
///
/// The 16-byte IV is the initial counter block, incremented as one 128-bit big-endian
/// integer (PROTOCOL.md §0). Unlike a one-shot API, successive calls continue the
/// keystream where the previous call stopped, which is what every MTProto leg needs.
/// Not thread-safe: each instance belongs to one connection direction on one event loop.
public final class AESCTR {
    private let context: OpaquePointer

    /// - Parameters:
    ///   - key: 32 bytes.
    ///   - iv: 16 bytes, the initial counter block.
    public init(key: some Collection<UInt8>, iv: some Collection<UInt8>) {
        precondition(key.count == 32, "AES-256-CTR needs a 32-byte key")
        precondition(iv.count == 16, "AES-256-CTR needs a 16-byte IV")
        guard let context = EVP_CIPHER_CTX_new() else {
            fatalError("EVP_CIPHER_CTX_new failed: out of memory")
        }
        self.context = context
        let keyBytes = Array(key)
        let ivBytes = Array(iv)
        let ok = EVP_EncryptInit_ex(context, Self.cipher, nil, keyBytes, ivBytes)
        precondition(ok == 1, "EVP_EncryptInit_ex failed for AES-256-CTR")
    }

    deinit {
        EVP_CIPHER_CTX_free(context)
    }

    /// Fetched once: `EVP_aes_256_ctr()` would make OpenSSL 3 look the implementation up
    /// again at every init, which costs as much as the rest of a connection's key set-up.
    /// Never freed; read-only after the fetch, so shared by every thread.
    nonisolated(unsafe) private static let cipher: OpaquePointer = {
        guard let cipher = EVP_CIPHER_fetch(nil, "AES-256-CTR", nil) else {
            fatalError("EVP_CIPHER_fetch(AES-256-CTR) failed")
        }
        return cipher
    }()

    /// XORs the next `buffer.count` keystream bytes into `buffer`, in place.
    /// Encryption and decryption are the same operation in CTR mode.
    @inline(__always)
    public func apply(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        // EVP_EncryptUpdate takes an int length; relay chunks are far below 2 GiB,
        // but split anyway so the contract holds for any size.
        var offset = 0
        while offset < buffer.count {
            let chunk = min(buffer.count - offset, 1 << 30)
            var written: Int32 = 0
            let pointer = (base + offset).assumingMemoryBound(to: UInt8.self)
            let ok = EVP_EncryptUpdate(context, pointer, &written, pointer, Int32(chunk))
            precondition(ok == 1 && Int(written) == chunk, "EVP_EncryptUpdate failed")
            offset += chunk
        }
    }

    /// XORs the next `input.count` keystream bytes of `input` into `output` (same length).
    /// Lets a relay transform a buffer it must not write to without copying it first.
    @inline(__always)
    public func apply(_ input: UnsafeRawBufferPointer, to output: UnsafeMutableRawBufferPointer) {
        precondition(input.count == output.count, "AESCTR.apply(_:to:) needs equal lengths")
        guard let source = input.baseAddress, let destination = output.baseAddress, input.count > 0 else { return }
        var offset = 0
        while offset < input.count {
            let chunk = min(input.count - offset, 1 << 30)
            var written: Int32 = 0
            let ok = EVP_EncryptUpdate(
                context,
                (destination + offset).assumingMemoryBound(to: UInt8.self), &written,
                (source + offset).assumingMemoryBound(to: UInt8.self), Int32(chunk)
            )
            precondition(ok == 1 && Int(written) == chunk, "EVP_EncryptUpdate failed")
            offset += chunk
        }
    }

    /// Convenience for arrays (tests, handshakes); the relay uses the pointer form.
    public func apply(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { apply($0) }
    }

    /// Returns `bytes` transformed by the next keystream bytes.
    public func transform(_ bytes: some Sequence<UInt8>) -> [UInt8] {
        var copy = Array(bytes)
        apply(&copy)
        return copy
    }
}
