import MTCrypto

/// The client's side of the fake-TLS handshake, as tdlib plays it (PROTOCOL.md §4.2, §4.4):
/// for test clients, probers and the proxy's own tests.
public enum FakeTLSClient {
    /// The shape of the ClientHello to build.
    public enum HelloShape: Sendable, CaseIterable {
        /// Today's clients: GREASE, X25519MLKEM768 (1216-byte share) and x25519 key
        /// shares, ECH outer extension; about 1.8 KB.
        case current
        /// Older clients: x25519 only, padded to exactly 517 bytes.
        case legacy
    }

    /// A signed, single-record ClientHello for `domain` (the SNI).
    /// - Parameter unixTime: the time written into the random (tdlib: server-corrected now).
    public static func makeHello(key: [UInt8], domain: String, unixTime: UInt32, shape: HelloShape = .current) -> [UInt8] {
        var record = unsignedHello(domain: domain, shape: shape)
        sign(&record, key: key, unixTime: unixTime)
        return record
    }

    /// Applies the digest rule to a single-record ClientHello image: random ← HMAC-SHA256(K,
    /// record with random zeroed), last 4 bytes XORed with `unixTime` little-endian.
    public static func sign(_ record: inout [UInt8], key: [UInt8], unixTime: UInt32) {
        precondition(record.count >= ClientHello.randomRange.upperBound)
        record.replaceSubrange(ClientHello.randomRange, with: repeatElement(0, count: 32))
        var random = HMACSHA256.authenticationCode(key: key, data: record)
        for index in 0..<4 { random[28 + index] ^= UInt8(truncatingIfNeeded: unixTime >> (8 * index)) }
        record.replaceSubrange(ClientHello.randomRange, with: random)
    }

    /// What tdlib decides about the proxy's answer (`TlsInit::wait_hello_response`).
    public enum FlightCheck: Sendable, Equatable {
        case needMoreBytes
        /// The flight verified; it is `length` bytes long and anything after is tunnel data.
        case verified(length: Int)
        /// Well-formed but not ours (a fronted site answered), or not the expected shape.
        case rejected
    }

    /// Checks the proxy's reply to a hello whose random was `clientRandom`: one `16 03 03`
    /// record, then the literal `14 03 03 00 01 01 17 03 03` and one ApplicationData
    /// record, with the HMAC over `clientRandom ‖ range` (random zeroed) in bytes 11–42.
    public static func checkFlight(_ bytes: [UInt8], clientRandom: [UInt8], key: [UInt8]) -> FlightCheck {
        guard bytes.count >= 5 else { return .needMoreBytes }
        guard bytes[0..<3].elementsEqual([0x16, 0x03, 0x03]) else { return .rejected }
        let helloEnd = 5 + (Int(bytes[3]) << 8 | Int(bytes[4]))
        let prefix: [UInt8] = [0x14, 0x03, 0x03, 0x00, 0x01, 0x01, 0x17, 0x03, 0x03]
        guard bytes.count >= helloEnd + prefix.count + 2 else { return .needMoreBytes }
        guard helloEnd >= ClientHello.randomRange.upperBound,
              bytes[helloEnd..<helloEnd + prefix.count].elementsEqual(prefix) else { return .rejected }
        let dataLengthAt = helloEnd + prefix.count
        let end = dataLengthAt + 2 + (Int(bytes[dataLengthAt]) << 8 | Int(bytes[dataLengthAt + 1]))
        guard bytes.count >= end else { return .needMoreBytes }
        var range = Array(bytes[0..<end])
        let received = Array(range[ClientHello.randomRange])
        range.replaceSubrange(ClientHello.randomRange, with: repeatElement(0, count: 32))
        let expected = HMACSHA256.authenticationCode(key: key, data: clientRandom + range)
        return constantTimeEquals(expected, received) ? .verified(length: end) : .rejected
    }

    static func unsignedHello(domain: String, shape: HelloShape) -> [UInt8] {
        // Distinct GREASE values, as tdlib draws them: two GREASE extensions must not collide.
        let grease = (0..<16).shuffled().prefix(5).map { UInt16($0 * 0x1010 + 0x0a0a) }
        var suites: [UInt16] = shape == .current ? [grease[0]] : []
        suites += [0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8,
                   0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035]
        let name = Array(domain.utf8)
        var extensions: [(UInt16, [UInt8])] = [
            (0x0000, u16(name.count + 3) + [0x00] + u16(name.count) + name),
            (0x0017, []),
            (0xff01, [0x00]),
            (0x000b, [0x01, 0x00]),
            (0x0023, []),
            (0x0010, [0x00, 0x0c, 0x02] + Array("h2".utf8) + [0x08] + Array("http/1.1".utf8)),
            (0x0005, [0x01, 0x00, 0x00, 0x00, 0x00]),
            (0x000d, [0x00, 0x10, 0x04, 0x03, 0x08, 0x04, 0x04, 0x01, 0x05, 0x03, 0x08, 0x05, 0x05, 0x01, 0x08, 0x06, 0x06, 0x01]),
            (0x0012, []),
            (0x002d, [0x01, 0x01]),
            (0x001b, [0x02, 0x00, 0x02]),
        ]
        switch shape {
        case .current:
            let groups: [UInt16] = [grease[1], 0x11ec, 0x001d, 0x0017, 0x0018]
            extensions.insert((grease[2], []), at: 0)
            extensions.append((0x000a, u16(groups.count * 2) + groups.flatMap(u16)))
            let shares = u16(Int(grease[1])) + [0x00, 0x01, 0x00]
                + [0x11, 0xec] + u16(1216) + SecureRandom.bytes(1184) + X25519.ephemeralPublicKey()
                + [0x00, 0x1d, 0x00, 0x20] + X25519.ephemeralPublicKey()
            extensions.append((0x0033, u16(shares.count) + shares))
            extensions.append((0x002b, [0x06] + u16(Int(grease[3])) + [0x03, 0x04, 0x03, 0x03]))
            extensions.append((0x44cd, [0x00, 0x03, 0x02] + Array("h2".utf8)))
            let payload = SecureRandom.bytes([144, 176, 208, 240].randomElement()!)
            extensions.append((0xfe0d, [0x00, 0x00, 0x01, 0x00, 0x01, UInt8.random(in: 0...255), 0x00, 0x20]
                + SecureRandom.bytes(32) + u16(payload.count) + payload))
            extensions.append((grease[4], [0x00]))
        case .legacy:
            extensions.append((0x000a, [0x00, 0x06, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18]))
            extensions.append((0x0033, [0x00, 0x24, 0x00, 0x1d, 0x00, 0x20] + X25519.ephemeralPublicKey()))
            extensions.append((0x002b, [0x04, 0x03, 0x04, 0x03, 0x03]))
        }
        func record(_ extensions: [(UInt16, [UInt8])]) -> [UInt8] {
            let encoded = extensions.flatMap { u16(Int($0.0)) + u16($0.1.count) + $0.1 }
            var body: [UInt8] = [0x03, 0x03] + [UInt8](repeating: 0, count: 32) + [0x20] + SecureRandom.bytes(32)
            body += u16(suites.count * 2) + suites.flatMap(u16) + [0x01, 0x00]
            body += u16(encoded.count) + encoded
            let handshake: [UInt8] = [0x01, 0x00] + u16(body.count) + body
            return [0x16, 0x03, 0x01] + u16(handshake.count) + handshake
        }
        let unpadded = record(extensions)
        guard unpadded.count + 4 <= 517 else { return unpadded }
        return record(extensions + [(0x0015, [UInt8](repeating: 0, count: 517 - unpadded.count - 4))])
    }

    private static func u16(_ value: Int) -> [UInt8] { [UInt8(value >> 8 & 0xff), UInt8(value & 0xff)] }
    private static func u16(_ value: UInt16) -> [UInt8] { u16(Int(value)) }
}
