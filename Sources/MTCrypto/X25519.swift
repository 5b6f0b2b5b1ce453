import CMTOpenSSL

/// X25519 key generation (RFC 7748), for handshakes that must show a well-formed public key.
public enum X25519 {
    public static let publicKeyByteCount = 32

    /// The public half of a fresh key pair; the private half is discarded at once.
    public static func ephemeralPublicKey() -> [UInt8] {
        guard let context = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, nil) else {
            fatalError("EVP_PKEY_CTX_new_id(X25519) failed: out of memory")
        }
        defer { EVP_PKEY_CTX_free(context) }
        precondition(EVP_PKEY_keygen_init(context) == 1, "EVP_PKEY_keygen_init(X25519) failed")
        var key: OpaquePointer?
        precondition(EVP_PKEY_keygen(context, &key) == 1 && key != nil, "EVP_PKEY_keygen(X25519) failed")
        defer { EVP_PKEY_free(key) }
        var out = [UInt8](repeating: 0, count: publicKeyByteCount)
        var length = publicKeyByteCount
        precondition(EVP_PKEY_get_raw_public_key(key, &out, &length) == 1 && length == publicKeyByteCount,
                     "EVP_PKEY_get_raw_public_key(X25519) failed")
        return out
    }
}
