import MTCrypto

/// Whether an MTProto secret looks like 16 bytes from a secure random generator. A test
/// cannot prove randomness; it catches what people type or copy: the wrong length, one
/// repeated byte, a repeated pattern, a counting sequence, typed text, too few distinct
/// bytes. Random keys fail by chance with probability below 10⁻⁶.
enum SecretStrength {
    enum Form: String {
        case classic, secure = "dd", fakeTLS = "ee"
    }

    enum Verdict: Equatable {
        case strong(Form)
        /// What is wrong, in words that never quote the secret.
        case weak(String)
    }

    /// Fewer distinct bytes than this among 16 is a made-up key (random: 15.5 on average).
    static let minimumDistinctBytes = 11

    static func key(in text: String) -> (form: Form, key: [UInt8])? {
        let trimmed = text.trimmingASCIIWhitespace
        guard let bytes = [UInt8](hex: trimmed) ?? Base64.decode(trimmed) else { return nil }
        switch (bytes.count, bytes.first) {
        case (16, _): return (.classic, bytes)
        case (17, 0xdd): return (.secure, Array(bytes[1..<17]))
        case (18..., 0xee): return (.fakeTLS, Array(bytes[1..<17]))
        default: return nil
        }
    }

    static func judge(_ text: String) -> Verdict {
        guard let (form, key) = key(in: text) else {
            return .weak("not a 16-byte key in classic (32 hex), dd (dd + 32 hex) or ee (ee + 32 hex + domain) form")
        }
        if let reason = weakness(of: key) { return .weak(reason) }
        return .strong(form)
    }

    static func weakness(of key: [UInt8]) -> String? {
        if Set(key).count == 1 { return "the key is one repeated byte" }
        for period in 1...8 where key.indices.allSatisfy({ key[$0] == key[$0 % period] }) {
            return "the key repeats a \(period)-byte pattern"
        }
        let step = key[1] &- key[0]
        if key.indices.dropFirst().allSatisfy({ key[$0] &- key[$0 - 1] == step }) {
            return "the key is a counting sequence"
        }
        if key.allSatisfy({ (0x20...0x7e).contains($0) }) {
            return "the key is printable text, not random bytes"
        }
        let distinct = Set(key).count
        if distinct < minimumDistinctBytes {
            return "the key has only \(distinct) distinct bytes of 16"
        }
        return nil
    }
}
