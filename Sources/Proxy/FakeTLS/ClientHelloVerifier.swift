import MTCrypto

/// A ClientHello that carried a valid digest for one of the configured secrets.
public struct AuthenticatedHello: Sendable {
    public var hello: ClientHello
    public var secret: ProxySecret
    /// The client's unix time, recovered from the random.
    public var timestamp: UInt32
    /// `timestamp − now` in seconds: positive when the client's clock is ahead.
    public var clockOffset: Int64

    /// What the replay filter remembers: the 28 authenticated bytes of the random. The
    /// last four carry the timestamp under a plain XOR, so anyone can flip their low bits
    /// and stay inside the window; keying on them would let a replay pass as new.
    public var replayKey: ArraySlice<UInt8> { hello.random[0..<28] }
}

/// The verdict on one hello.
public enum ClientHelloVerdict: Sendable {
    case accepted(AuthenticatedHello)
    /// `secret` is the secret whose digest matched, when one did (skew and SNI failures);
    /// events name it, a digest failure has none.
    case rejected(FakeTLSError, secret: ProxySecret?)
}

/// Checks a ClientHello against the configured secrets (PROTOCOL.md §4.3.5–7): digest,
/// then timestamp window, then SNI policy. The replay filter is not consulted here; a
/// caller inserts `replayKey` only after `accepted` (§4.3.8).
public struct ClientHelloVerifier: Sendable {
    public var settings: FakeTLSSettings

    public init(settings: FakeTLSSettings = FakeTLSSettings()) {
        self.settings = settings
    }

    /// - Parameter now: the proxy's unix time in seconds (injected; the handler passes the wall clock).
    public func verify(_ hello: ClientHello, secrets: [ProxySecret], now: Int64) -> ClientHelloVerdict {
        for secret in secrets {
            let digest = hello.signedImage.withUnsafeBytes {
                HMACSHA256.authenticationCode(key: secret.key, data: $0)
            }
            guard constantTimeEquals(digest[0..<28], hello.random[0..<28]) else { continue }
            let timestamp = (0..<4).reduce(UInt32(0)) { value, index in
                value | UInt32(digest[28 + index] ^ hello.random[28 + index]) << (8 * index)
            }
            let offset = Int64(timestamp) - now
            guard offset <= settings.maximumTimestampLead, -offset <= settings.maximumTimestampLag else {
                return .rejected(FakeTLSError(.clockSkew, "timestamp outside the window"), secret: secret)
            }
            if let refusal = serverNameRefusal(hello, secret) {
                return .rejected(refusal, secret: secret)
            }
            return .accepted(AuthenticatedHello(hello: hello, secret: secret, timestamp: timestamp, clockOffset: offset))
        }
        return .rejected(FakeTLSError(.digest, "no secret matches the digest"), secret: nil)
    }

    private func serverNameRefusal(_ hello: ClientHello, _ secret: ProxySecret) -> FakeTLSError? {
        if hello.serverNames.isEmpty {
            return settings.allowMissingServerName ? nil : FakeTLSError(.serverName, "server_name missing")
        }
        switch settings.serverNamePolicy {
        case .any:
            return nil
        case .match:
            guard let domain = secret.domain?.lowercased() else { return nil }
            return hello.serverNames.contains(domain) ? nil : FakeTLSError(.serverName, "server_name differs from the secret's domain")
        }
    }
}
