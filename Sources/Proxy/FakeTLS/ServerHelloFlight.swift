import MTCrypto

/// The proxy's answer to an authenticated hello (PROTOCOL.md §4.4): one ServerHello
/// record, one ChangeCipherSpec record and exactly one ApplicationData record, with the
/// server random set to `HMAC-SHA256(K, client_random ‖ flight with random zeroed)`.
///
/// Nothing may follow the ApplicationData record: tdlib treats any further byte as
/// tunnel data.
public enum ServerHelloFlight {
    static let tls13Suites: Set<UInt16> = [0x1301, 0x1302, 0x1303]

    /// The first TLS 1.3 suite the client offered (GREASE values are never among them);
    /// `13 01` if it offered none, which no Telegram client does.
    public static func cipherSuite(for hello: ClientHello) -> UInt16 {
        hello.cipherSuites.first(where: tls13Suites.contains) ?? 0x1301
    }

    /// The flight with fresh random inputs: a real X25519 public key and a random
    /// certificate-sized ApplicationData payload.
    public static func make(for authenticated: AuthenticatedHello, settings: FakeTLSSettings) -> [UInt8] {
        let length = Int.random(in: settings.certificateLengths.clamped(to: 1...FakeTLSRecordEncoder.maximumPayloadLength))
        return make(clientRandom: authenticated.hello.random,
                    sessionID: authenticated.hello.sessionID,
                    cipherSuite: cipherSuite(for: authenticated.hello),
                    keyShare: X25519.ephemeralPublicKey(),
                    applicationData: SecureRandom.bytes(length),
                    key: authenticated.secret.key)
    }

    /// The flight from explicit inputs (known-answer tests inject them here).
    /// - Parameters:
    ///   - keyShare: a 32-byte x25519 public key.
    ///   - applicationData: 1…16 384 bytes.
    public static func make(clientRandom: [UInt8], sessionID: [UInt8], cipherSuite: UInt16,
                            keyShare: [UInt8], applicationData: [UInt8], key: [UInt8]) -> [UInt8] {
        precondition(clientRandom.count == 32 && sessionID.count <= 32 && keyShare.count == 32)
        precondition((1...FakeTLSRecordEncoder.maximumPayloadLength).contains(applicationData.count))
        let extensions: [UInt8] = [0x00, 0x33, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20] + keyShare
            + [0x00, 0x2b, 0x00, 0x02, 0x03, 0x04]
        var body: [UInt8] = [0x03, 0x03] + [UInt8](repeating: 0, count: 32)
        body.append(UInt8(sessionID.count))
        body += sessionID
        body += [UInt8(cipherSuite >> 8), UInt8(cipherSuite & 0xff), 0x00]
        body += uint16(extensions.count) + extensions
        let handshake: [UInt8] = [0x02, 0x00] + uint16(body.count) + body
        var flight: [UInt8] = [0x16, 0x03, 0x03] + uint16(handshake.count) + handshake
        flight += [0x14, 0x03, 0x03, 0x00, 0x01, 0x01]
        flight += [0x17, 0x03, 0x03] + uint16(applicationData.count) + applicationData
        let digest = HMACSHA256.authenticationCode(key: key, data: clientRandom + flight)
        flight.replaceSubrange(ClientHello.randomRange, with: digest)
        return flight
    }

    private static func uint16(_ value: Int) -> [UInt8] {
        [UInt8(value >> 8 & 0xff), UInt8(value & 0xff)]
    }
}
