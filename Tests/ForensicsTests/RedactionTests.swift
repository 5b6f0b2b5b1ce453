import Testing
import EventLog
import MTCrypto
@testable import Forensics

@Suite struct RedactionTests {
    static let eeSecret = "ee00112233445566778899aabbccddeeff7777772e6578616d706c652e636f6d"
    static let key: [UInt8] = [UInt8](hex: "00112233445566778899aabbccddeeff")!

    static func redact(_ text: String, secrets: SecretInventory, addresses: AddressPseudonyms? = nil,
                       chunk: Int = .max) throws -> String {
        let redactor = StreamRedactor(secrets: secrets, addresses: addresses)
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let end = min(bytes.count, index + min(chunk, bytes.count))
            out += try Array(bytes[index..<end]).withUnsafeBytes { try redactor.process($0, final: false) }
            index = end
        }
        out += try redactor.process(UnsafeRawBufferPointer(start: nil, count: 0), final: true)
        return String(decoding: out, as: UTF8.self)
    }

    static var inventory: SecretInventory {
        var inventory = SecretInventory()
        inventory.add(eeSecret)
        return inventory
    }

    /// Every form a proxy secret is written in, anywhere in a line.
    static let secretForms: [String] = [
        eeSecret,
        eeSecret.uppercased(),
        "dd00112233445566778899aabbccddeeff",
        "00112233445566778899AABBCCDDEEFF",
        Base64.encode(key, urlSafe: false, padded: true),
        Base64.encode(key, urlSafe: true, padded: false),
        Base64.encode([UInt8](hex: eeSecret)!, urlSafe: true, padded: false),
        Base64.encode([UInt8](hex: eeSecret)!, urlSafe: false, padded: true),
    ]

    @Test(arguments: secretForms, [1, 3, 64, Int.max])
    func secretFormsAreReplacedAcrossChunkBoundaries(form: String, chunk: Int) throws {
        let text = "pid 7 mtproxy --secret=\(form) tg://proxy?server=x&secret=\(form)\n"
        let out = try Self.redact(text, secrets: Self.inventory, chunk: chunk)
        #expect(!out.lowercased().contains("00112233445566778899aabbccddeeff"))
        #expect(!out.contains(Base64.encode(Self.key, urlSafe: false, padded: false)))
        #expect(!out.contains(Base64.encode(Self.key, urlSafe: true, padded: false)))
        #expect(out.contains(SecretInventory.fingerprintPrefix))
    }

    @Test func oneKeyHasOneFingerprintInEveryForm() {
        var inventory = SecretInventory()
        let a = inventory.add(Self.eeSecret)
        let b = inventory.add("dd00112233445566778899aabbccddeeff")
        let c = inventory.add("00112233445566778899aabbccddeeff")
        #expect(a == b && b == c)
        #expect(inventory.count == 1)
        #expect(a == SecretInventory.fingerprint(of: Self.key))
    }

    @Test func addressesBecomeStablePseudonymsAsWholeTokens() throws {
        let pseudonyms = AddressPseudonyms(key: Array(repeating: 7, count: 32))
        let text = """
        {"source.ip":"203.0.113.7","source.prefix":"203.0.113.0/24"} 203.0.113.7:443 [2001:db8::42]:443
        ESTAB 0 0 192.0.2.1:8443 203.0.113.7:51000 ::ffff:203.0.113.7 end.
        client:203.0.113.7 port=443
        keep 127.0.0.1 ::1 0.0.0.0 :: 12:34:56 aa:bb:cc:dd:ee:ff v1.2.3 1.2.3.4.5 std::string
        """
        let out = try Self.redact(text, secrets: SecretInventory(), addresses: pseudonyms, chunk: 5)
        let seven = pseudonyms.pseudonym(for: IPAddress("203.0.113.7")!)!
        #expect(!out.contains("203.0.113.7") && !out.contains("2001:db8::42") && !out.contains("192.0.2.1"))
        #expect(out.components(separatedBy: seven).count - 1 == 5, "\(out)")
        #expect(out.contains("client:\(seven) port=443"))
        #expect(out.contains("\(seven):443") && out.contains("\(seven):51000"))
        for kept in ["127.0.0.1", " ::1 ", "0.0.0.0", " :: ", "12:34:56", "aa:bb:cc:dd:ee:ff", "v1.2.3", "1.2.3.4.5", "std::string"] {
            #expect(out.contains(kept), "\(kept) in \(out)")
        }
        #expect(out.hasSuffix("std::string"))
    }

    @Test func chunkingNeverChangesTheResult() throws {
        var generator = SeededGenerator(seed: 21)
        let pseudonyms = AddressPseudonyms(key: Array(repeating: 1, count: 32))
        let pieces = ["198.51.100.\(Int.random(in: 1...254, using: &generator))", Self.eeSecret, " ", "\n", "\"", ":", "2001:db8::1",
                      "word", "10.0.0.1:80", Base64.encode(Self.key, urlSafe: true, padded: false), ".", "-"]
        for _ in 0..<50 {
            let text = (0..<200).map { _ in pieces.randomElement(using: &generator)! }.joined()
            let whole = try Self.redact(text, secrets: Self.inventory, addresses: pseudonyms)
            let chunked = try Self.redact(text, secrets: Self.inventory, addresses: pseudonyms, chunk: Int.random(in: 1...97, using: &generator))
            #expect(whole == chunked)
            #expect(!whole.contains("00112233445566778899aabbccddeeff"))
        }
    }

    @Test func binaryContentHoldingASecretIsRefused() throws {
        let redactor = StreamRedactor(secrets: Self.inventory, addresses: nil, mode: .refuseIfFound)
        let bytes: [UInt8] = [0, 1, 2] + Array(Self.eeSecret.utf8) + [0]
        #expect(throws: StreamRedactor.Found.self) {
            _ = try bytes.withUnsafeBytes { try redactor.process($0, final: true) }
        }
    }

    @Test func configurationSecretsAreFoundAndRedactedInPlace() throws {
        let yaml = """
        instance: vps1
        secrets:
          - name: main
            secret: \(Self.eeSecret)
          - "dd0f1e2d3c4b5a69788796a5b4c3d2e1f0"
        store:
          dsn: "postgres://auditor:hunter2-long@db.example/mtshield"
          api_token: short
        reports: /var/lib/mtshield/reports
        """
        let configuration = try EvidenceConfiguration(role: .auditor, path: "auditor.yaml", text: yaml)
        #expect(Set(configuration.sensitiveValues.map(\.keyPath)) == ["secrets[0].secret", "secrets[1]", "store.dsn", "store.api_token"])
        let redacted = try configuration.redactedText()
        for secret in [Self.eeSecret, "dd0f1e2d3c4b5a69788796a5b4c3d2e1f0", "hunter2-long", "short"] {
            #expect(!redacted.contains(secret), "\(secret)")
        }
        #expect(redacted.contains("name: main") && redacted.contains("reports: /var/lib/mtshield/reports"))
        #expect(configuration.string(at: ["reports"]) == "/var/lib/mtshield/reports")
        #expect(configuration.resolvedPath(at: ["reports"]) == "/var/lib/mtshield/reports")
        #expect(EvidenceConfiguration.urlPassword(in: "postgres://u:p4ss@h/db") == "p4ss")
        #expect(EvidenceConfiguration.urlPassword(in: "https://example.com/a:b@c") == nil)
    }

    @Test func base64RoundTrips() {
        var generator = SeededGenerator(seed: 5)
        for count in 0..<40 {
            let bytes = [UInt8].random(count, using: &generator)
            for urlSafe in [false, true] {
                for padded in [false, true] {
                    let text = Base64.encode(bytes, urlSafe: urlSafe, padded: padded)
                    #expect(bytes.isEmpty ? Base64.decode(text) == nil : Base64.decode(text) == bytes)
                }
            }
        }
        #expect(Base64.encode(Array("foobar".utf8), urlSafe: false, padded: true) == "Zm9vYmFy")
        #expect(Base64.encode(Array("fooba".utf8), urlSafe: false, padded: true) == "Zm9vYmE=")
        #expect(Base64.decode("a") == nil && Base64.decode("ab=c") == nil && Base64.decode("a b") == nil)
    }
}
