import MTCrypto
import NIOCore
import Testing
@testable import Proxy

@Suite struct FakeTLSClientHelloTests {
    static let key = [UInt8](hex: "00112233445566778899aabbccddeeff")!
    static let secret = ProxySecret(name: "main", form: .faketls, key: key, domain: "www.example.com")
    static let now: Int64 = 1_790_000_000

    static func signed(_ shape: FakeTLSClient.HelloShape, time: Int64 = now) -> [UInt8] {
        FakeTLSClient.makeHello(key: key, domain: "www.example.com", unixTime: UInt32(time), shape: shape)
    }

    static func verdict(_ bytes: [UInt8], settings: FakeTLSSettings = FakeTLSSettings(),
                        secrets: [ProxySecret] = [secret], now: Int64 = now) throws -> ClientHelloVerdict {
        let hello = try #require(HelloWire.hello(HelloWire.read(bytes, chunks: [bytes.count])))
        return ClientHelloVerifier(settings: settings).verify(hello, secrets: secrets, now: now)
    }

    // MARK: recorded clients

    @Test(arguments: RecordedHello.all)
    func recordedHello(_ recorded: RecordedHello) throws {
        let step = HelloWire.read(recorded.full, chunks: [recorded.full.count])
        let hello = try #require(HelloWire.hello(step))
        #expect(hello.random == recorded.random)
        // The bad recording differs from its own `sessionId` field: that change is what breaks its digest.
        #expect((hello.sessionID == recorded.sessionID) == recorded.shouldAccept)
        #expect(hello.serverNames == [recorded.host])
        #expect(ServerHelloFlight.cipherSuite(for: hello) == recorded.cipherSuite)
        let verdict = ClientHelloVerifier().verify(hello, secrets: [RecordedHello.secret], now: recorded.time)
        switch verdict {
        case .accepted(let accepted):
            #expect(recorded.shouldAccept)
            #expect(accepted.secret.name == "fixtures")
            #expect(abs(accepted.clockOffset) < 60)
        case .rejected(let error, let secret):
            #expect(!recorded.shouldAccept)
            #expect(error.reason == "tls_digest")
            #expect(secret == nil)
        }
    }

    @Test func recordedFixturesArePresent() {
        #expect(RecordedHello.all.count == 7)
        #expect(RecordedHello.all.filter(\.shouldAccept).count == 6)
    }

    // MARK: reassembly

    @Test(arguments: FakeTLSClient.HelloShape.allCases)
    func splitAtEveryByteBoundary(_ shape: FakeTLSClient.HelloShape) throws {
        let wire = Self.signed(shape)
        if shape == .legacy { #expect(wire.count == 517) } else { #expect((1700...1900).contains(wire.count)) }
        let whole = try #require(HelloWire.hello(HelloWire.read(wire, chunks: [wire.count])))
        for split in 1..<wire.count {
            let hello = HelloWire.hello(HelloWire.read(wire, chunks: [split, wire.count]))
            #expect(hello == whole, "split at \(split)")
        }
        guard case .accepted = try Self.verdict(wire) else {
            Issue.record("a freshly signed \(shape) hello must verify")
            return
        }
    }

    @Test func byteAtATime() throws {
        let wire = Self.signed(.current)
        var reader = ClientHelloReader()
        for (index, byte) in wire.enumerated() {
            let step = reader.read(ByteBuffer(bytes: [byte]))
            if index < wire.count - 1 {
                guard case .needMoreBytes = step else { Issue.record("decided early at \(index)"); return }
            } else {
                #expect(HelloWire.hello(step) != nil)
            }
        }
    }

    @Test(arguments: [2, 3, 5, 10])
    func fragmentedOverRecords(_ records: Int) throws {
        var generator = SeededGenerator(seed: UInt64(records))
        for shape in FakeTLSClient.HelloShape.allCases {
            let single = Self.signed(shape)
            let wire = HelloWire.fragment(single, payloadSizes: HelloWire.randomSizes(single, count: records, using: &generator))
            #expect(wire.count == single.count + 5 * (records - 1))
            for _ in 0..<20 {
                var chunks: [Int] = []
                var total = 0
                while total < wire.count {
                    let size = Int.random(in: 1...600, using: &generator)
                    chunks.append(size)
                    total += size
                }
                let step = HelloWire.read(wire, chunks: chunks)
                let hello = try #require(HelloWire.hello(step))
                #expect(hello.recordCount == records)
                #expect(hello.signedImage.count == single.count)
                guard case .accepted = ClientHelloVerifier().verify(hello, secrets: [Self.secret], now: Self.now) else {
                    Issue.record("reassembled hello over \(records) records must verify")
                    return
                }
            }
        }
    }

    @Test func elevenRecordsAreTooMany() throws {
        let single = Self.signed(.current)
        let wire = HelloWire.fragment(single, payloadSizes: Array(repeating: 100, count: 11))
        let error = try #require(HelloWire.malformation(HelloWire.read(wire, chunks: [wire.count])))
        #expect(error.field == "record count")
    }

    @Test func trailingBytesComeBack() throws {
        let wire = Self.signed(.legacy)
        let extra: [UInt8] = [0x14, 0x03, 0x03, 0x00, 0x01, 0x01, 0x17]
        guard case .hello(_, let received, let trailing) = HelloWire.read(wire + extra, chunks: [300, 1000]) else {
            Issue.record("expected a hello")
            return
        }
        #expect(Array(buffer: received) == wire)
        #expect(Array(buffer: trailing) == extra)
    }

    @Test(arguments: [
        (Array("GET / HTTP/1.1\r\n".utf8), 1),
        ([0x16, 0x03, 0x02, 0x02, 0x00], 3),
        ([0x16, 0x04], 2),
        ([0xef, 0x00, 0x00], 1),
    ] as [([UInt8], Int)])
    func notTLSIsRecognisedAsEarlyAsPossible(_ bytes: [UInt8], _ decidedAfter: Int) {
        var reader = ClientHelloReader()
        for index in 0..<decidedAfter - 1 {
            guard case .needMoreBytes = reader.read(ByteBuffer(bytes: [bytes[index]])) else {
                Issue.record("decided before byte \(decidedAfter)")
                return
            }
        }
        guard case .notTLS(let received) = reader.read(ByteBuffer(bytes: bytes[(decidedAfter - 1)...])) else {
            Issue.record("expected notTLS")
            return
        }
        #expect(Array(buffer: received) == bytes, "every byte read is handed back for fronting")
    }

    @Test func acceptsRecordVersion0303() throws {
        var wire = Self.signed(.legacy)
        wire[2] = 0x03
        FakeTLSClient.sign(&wire, key: Self.key, unixTime: UInt32(Self.now))
        guard case .accepted = try Self.verdict(wire) else {
            Issue.record("16 03 03 hellos are accepted")
            return
        }
    }

    static let malformations: [(String, @Sendable ([UInt8]) -> [UInt8])] = [
        ("record length", { w in var w = w; w[3] = 0; w[4] = 0; return w }),
        ("record length", { w in var w = w; w[3] = 0x40; w[4] = 0x01; return w }),
        ("handshake type", { w in var w = w; w[5] = 0x02; return w }),
        ("handshake length", { w in Array(w[0..<3]) + [0x00, 0xfc, 0x01, 0x00, 0x00, 0xf8] + Array(w[9..<257]) }),
        ("bytes after the handshake message", { w in
            var w = w; let n = w.count - 5 + 1; w[3] = UInt8(n >> 8); w[4] = UInt8(n & 0xff); return w + [0] }),
        ("continuation record type", { w in HelloWire.fragment(w, payloadSizes: [100, 1]).enumerated().map { $0 == 105 ? 0x17 : $1 } }),
        ("continuation record version", { w in HelloWire.fragment(w, payloadSizes: [100, 1]).enumerated().map { $0 == 107 ? 0x03 : $1 } }),
        ("legacy_version", { w in var w = w; w[10] = 0x01; return w }),
        ("session_id length", { w in var w = w; w[43] = 33; return w }),
    ]

    @Test(arguments: malformations.indices)
    func malformedHellos(_ index: Int) throws {
        let (field, mutate) = Self.malformations[index]
        let wire = mutate(Self.signed(.legacy))
        let error = try #require(HelloWire.malformation(HelloWire.read(wire, chunks: [wire.count])))
        #expect(error.field.hasPrefix(field))
        #expect(error.reason == "malformed")
    }

    // MARK: parser

    /// A minimal hello image around the given extensions block, padded in front to 512.
    static func image(extensions: [UInt8], sessionID: Int = 32, suites: [UInt8] = [0x13, 0x01]) -> [UInt8] {
        var body: [UInt8] = [0x03, 0x03] + [UInt8](repeating: 0xaa, count: 32) + [UInt8(sessionID)]
        body += [UInt8](repeating: 0xbb, count: sessionID)
        body += [UInt8(suites.count >> 8), UInt8(suites.count & 0xff)] + suites + [0x01, 0x00]
        let padding = max(0, 512 - 4 - body.count - 2 - extensions.count - 4)
        let all = extensions + [0x00, 0x15, UInt8(padding >> 8), UInt8(padding & 0xff)] + [UInt8](repeating: 0, count: padding)
        body += [UInt8(all.count >> 8), UInt8(all.count & 0xff)] + all
        let handshake: [UInt8] = [0x01, 0x00, UInt8(body.count >> 8), UInt8(body.count & 0xff)] + body
        return [0x16, 0x03, 0x01, UInt8(handshake.count >> 8), UInt8(handshake.count & 0xff)] + handshake
    }

    @Test func parsesExtensions() throws {
        let sni: [UInt8] = [0x00, 0x00, 0x00, 0x0e, 0x00, 0x0c, 0x00, 0x00, 0x09] + Array("Ex.AMPLE.".utf8)
        let alpn: [UInt8] = [0x00, 0x10, 0x00, 0x05, 0x00, 0x03, 0x02] + Array("h2".utf8)
        let groups: [UInt8] = [0x00, 0x0a, 0x00, 0x06, 0x00, 0x04, 0x11, 0xec, 0x00, 0x1d]
        let shares: [UInt8] = [0x00, 0x33, 0x00, 0x0a, 0x00, 0x08, 0x00, 0x1d, 0x00, 0x04, 1, 2, 3, 4]
        let versions: [UInt8] = [0x00, 0x2b, 0x00, 0x03, 0x02, 0x03, 0x04]
        let hello = try ClientHello.parse(image: Self.image(extensions: sni + alpn + groups + shares + versions, sessionID: 0))
        #expect(hello.serverNames == ["ex.ample."])
        #expect(hello.applicationProtocols == ["h2"])
        #expect(hello.supportedGroups == [0x11ec, 0x001d])
        #expect(hello.keyShareGroups == [0x001d])
        #expect(hello.supportedVersions == [0x0304])
        #expect(hello.sessionID.isEmpty)
        #expect(hello.extensionTypes == [0x0000, 0x0010, 0x000a, 0x0033, 0x002b, 0x0015])
        #expect(hello.signedImage[ClientHello.randomRange].allSatisfy { $0 == 0 })
        #expect(hello.random == [UInt8](repeating: 0xaa, count: 32))
        #expect(!String(describing: hello).contains("ample"), "the SNI never reaches a description")
    }

    static let badExtensions: [(String, [UInt8])] = [
        ("duplicate extension", [0x00, 0x17, 0x00, 0x00, 0x00, 0x17, 0x00, 0x00]),
        ("extension length", [0x00, 0x17, 0xff, 0xff]),
        ("host_name", [0x00, 0x00, 0x00, 0x07, 0x00, 0x05, 0x00, 0x00, 0x02, 0x61, 0x00]),
        ("host_name", [0x00, 0x00, 0x00, 0x05, 0x00, 0x03, 0x00, 0x00, 0x00]),
        ("server_name length", [0x00, 0x00, 0x00, 0x05, 0x00, 0x03, 0x00, 0x00, 0x09]),
        ("server_name extension length", [0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00]),
        ("supported_groups length", [0x00, 0x0a, 0x00, 0x03, 0x00, 0x01, 0x1d]),
        ("key_exchange length", [0x00, 0x33, 0x00, 0x06, 0x00, 0x04, 0x00, 0x1d, 0x00, 0x00]),
        ("supported_versions length", [0x00, 0x2b, 0x00, 0x02, 0x01, 0x03]),
        ("ALPN protocol length", [0x00, 0x10, 0x00, 0x03, 0x00, 0x01, 0x00]),
    ]

    @Test(arguments: badExtensions.indices)
    func rejectsBadExtensions(_ index: Int) {
        let (field, bytes) = Self.badExtensions[index]
        #expect {
            _ = try ClientHello.parse(image: Self.image(extensions: bytes))
        } throws: { error in
            (error as? FakeTLSError)?.field.hasPrefix(field) == true
        }
    }

    @Test func rejectsOddCipherSuites() {
        #expect(throws: FakeTLSError.self) { try ClientHello.parse(image: Self.image(extensions: [], suites: [0x13])) }
        #expect(throws: FakeTLSError.self) { try ClientHello.parse(image: Self.image(extensions: [], suites: [])) }
    }

    // MARK: verification

    @Test(arguments: [
        (-600, true), (-601, false), (1200, true), (1201, false), (0, true), (-86_400, false),
    ] as [(Int64, Bool)])
    func timestampWindowEdges(_ offset: Int64, _ accepted: Bool) throws {
        let wire = Self.signed(.legacy, time: Self.now + offset)
        switch try Self.verdict(wire) {
        case .accepted(let hello):
            #expect(accepted)
            #expect(hello.clockOffset == offset)
            #expect(hello.timestamp == UInt32(Self.now + offset))
        case .rejected(let error, let secret):
            #expect(!accepted)
            #expect(error.code == .clockSkew && error.reason == "tls_skew")
            #expect(secret?.name == "main")
        }
    }

    @Test func customWindow() throws {
        var settings = FakeTLSSettings()
        settings.maximumTimestampLag = 3
        settings.maximumTimestampLead = 3
        let late = Self.signed(.legacy, time: Self.now - 4)
        guard case .rejected(let error, _) = try Self.verdict(late, settings: settings) else {
            Issue.record("4 s behind a 3 s window is refused")
            return
        }
        #expect(error.code == .clockSkew)
    }

    /// PROTOCOL.md §4.4: the timestamp is XORed little-endian into the last four bytes.
    @Test func timestampIsLittleEndian() {
        var record = Self.signed(.legacy)
        FakeTLSClient.sign(&record, key: Self.key, unixTime: 1_700_000_000)
        var zeroed = record
        zeroed.replaceSubrange(ClientHello.randomRange, with: repeatElement(0, count: 32))
        let digest = HMACSHA256.authenticationCode(key: Self.key, data: zeroed)
        #expect(Array(record[11..<39]) == Array(digest[0..<28]))
        #expect(zip(record[39..<43], digest[28..<32]).map { $0 ^ $1 } == [0x00, 0xf1, 0x53, 0x65])
    }

    @Test func triesEverySecret() throws {
        let other = ProxySecret(name: "other", form: .faketls, key: SecureRandom.bytes(16), domain: "a.example")
        guard case .accepted(let hello) = try Self.verdict(Self.signed(.current), secrets: [other, Self.secret]) else {
            Issue.record("the second secret matches")
            return
        }
        #expect(hello.secret.name == "main")
        #expect(hello.replayKey == hello.hello.random[0..<28])
        guard case .rejected(let error, nil) = try Self.verdict(Self.signed(.current), secrets: [other]) else {
            Issue.record("no secret matches")
            return
        }
        #expect(error.code == .digest)
    }

    @Test func oneFlippedBitFailsTheDigest() throws {
        var wire = Self.signed(.current)
        wire[600] ^= 0x01
        guard case .rejected(let error, _) = try Self.verdict(wire) else {
            Issue.record("a modified hello must not verify")
            return
        }
        #expect(error.reason == "tls_digest")
    }

    static func hello(sni: String?) -> [UInt8] {
        guard let sni else {
            // Replace the SNI extension's type with an unknown one: same length, no name.
            var wire = FakeTLSClient.makeHello(key: key, domain: "www.example.com", unixTime: UInt32(now), shape: .legacy)
            let offset = (76..<wire.count - 4).first { wire[$0..<$0 + 4].elementsEqual([0x00, 0x00, 0x00, 0x14]) }!
            wire[offset + 1] = 0x99
            FakeTLSClient.sign(&wire, key: key, unixTime: UInt32(now))
            return wire
        }
        return FakeTLSClient.makeHello(key: key, domain: sni, unixTime: UInt32(now), shape: .legacy)
    }

    @Test(arguments: [
        (FakeTLSSettings.ServerNamePolicy.any, true, "other.example", nil),
        (.any, true, nil, nil),
        (.any, false, nil, "server_name missing"),
        (.match, true, "www.example.com", nil),
        (.match, true, "WWW.Example.COM", nil),
        (.match, true, "other.example", "server_name differs from the secret's domain"),
        (.match, true, "www.example.com.evil", "server_name differs from the secret's domain"),
        (.match, true, nil, nil),
        (.match, false, nil, "server_name missing"),
    ] as [(FakeTLSSettings.ServerNamePolicy, Bool, String?, String?)])
    func serverNamePolicy(_ policy: FakeTLSSettings.ServerNamePolicy, _ allowMissing: Bool, _ sni: String?, _ refusal: String?) throws {
        var settings = FakeTLSSettings()
        settings.serverNamePolicy = policy
        settings.allowMissingServerName = allowMissing
        switch try Self.verdict(Self.hello(sni: sni), settings: settings) {
        case .accepted:
            #expect(refusal == nil)
        case .rejected(let error, let secret):
            #expect(error.field == refusal)
            #expect(error.reason == "tls_sni")
            #expect(secret?.name == "main")
        }
    }

    @Test func matchPolicyIgnoresSecretsWithoutDomain() throws {
        var settings = FakeTLSSettings()
        settings.serverNamePolicy = .match
        let bare = ProxySecret(name: "bare", form: .secure, key: Self.key)
        guard case .accepted = try Self.verdict(Self.hello(sni: "any.example"), settings: settings, secrets: [bare]) else {
            Issue.record("a secret without a domain imposes no name")
            return
        }
    }
}
