import MTCrypto
import Testing
@testable import Proxy

@Suite struct ProxySecretTests {
    static let key = [UInt8](hex: "00112233445566778899aabbccddeeff")!
    static let eeHex = "ee00112233445566778899aabbccddeeff7777772e6578616d706c652e636f6d"

    @Test func classicHex() throws {
        let secret = try ProxySecret(name: "a", text: "00112233445566778899aabbccddeeff")
        #expect(secret.form == .classic)
        #expect(secret.key == Self.key)
        #expect(secret.domain == nil)
        #expect(secret.hexText == "00112233445566778899aabbccddeeff")
    }

    @Test func secureHexUpperCaseAndSpaces() throws {
        let secret = try ProxySecret(name: "a", text: "  DD00112233445566778899AABBCCDDEEFF\n")
        #expect(secret.form == .secure)
        #expect(secret.key == Self.key)
        #expect(secret.hexText == "dd00112233445566778899aabbccddeeff")
    }

    @Test func fakeTLSHex() throws {
        let secret = try ProxySecret(name: "main", text: Self.eeHex)
        #expect(secret.form == .faketls)
        #expect(secret.key == Self.key)
        #expect(secret.domain == "www.example.com")
        #expect(secret.hexText == Self.eeHex)
    }

    @Test func fakeTLSBase64URLAsTdlibEmitsIt() throws {
        let bytes = [UInt8](hex: Self.eeHex)!
        let text = ProxySecret.base64URLEncode(bytes)
        #expect(text == "7gARIjNEVWZ3iJmqu8zd7v93d3cuZXhhbXBsZS5jb20")
        let secret = try ProxySecret(name: "main", text: text)
        #expect(secret.hexText == Self.eeHex)
        #expect(secret.base64URLText == text)
    }

    @Test func standardBase64WithPaddingIsAccepted() throws {
        let secret = try ProxySecret(name: "a", text: "3QARIjNEVWZ3iJmqu8zd7v8=")
        #expect(secret.form == .secure)
        #expect(secret.key == Self.key)
    }

    @Test(arguments: [
        ("", ProxySecretError.notHexOrBase64),
        ("zz112233445566778899aabbccddeeff", .notHexOrBase64),
        ("0011223344556677", .badLength(bytes: 8)),
        ("00112233445566778899aabbccddeef", .badHexLength(characters: 31)),
        ("aa00112233445566778899aabbccddeeff", .badPrefix),
        ("ee00112233445566778899aabbccddeeff", .missingDomain),
        ("ee00112233445566778899aabbccddeeffwww.example.com", .domainNotHex),
        ("dd00112233445566778899aabbccddeeff00", .badPrefix),
    ])
    func refusedForms(text: String, expected: ProxySecretError) {
        #expect(throws: expected) { try ProxySecret(name: "x", text: text) }
    }

    @Test(arguments: ["exa mple.com", "localhost", "-a.com", "a..com", "1.2.3.4", "ex_ample.com"])
    func refusedDomains(domain: String) {
        let hex = "ee00112233445566778899aabbccddeeff" + Array(domain.utf8).hexString
        #expect(throws: ProxySecretError.self) { try ProxySecret(name: "x", text: hex) }
    }

    @Test func overLongDomainIsRefused() {
        let domain = String(repeating: "a", count: 60) + "." + String(repeating: "b", count: 60) + "." + String(repeating: "c", count: 62) + ".com"
        let hex = "ee00112233445566778899aabbccddeeff" + Array(domain.utf8).hexString
        #expect(throws: ProxySecretError.badDomain("is longer than 182 characters, which clients truncate")) {
            try ProxySecret(name: "x", text: hex)
        }
    }

    @Test func generatedSecretsAreFreshAndWellFormed() throws {
        let a = try ProxySecret.generate(name: "a", form: .faketls, domain: "www.example.com")
        let b = try ProxySecret.generate(name: "b", form: .faketls, domain: "www.example.com")
        #expect(a.key != b.key)
        #expect(a.hexText.hasPrefix("ee"))
        #expect(try ProxySecret(name: "a", text: a.hexText) == a)
        #expect(throws: ProxySecretError.missingDomain) { try ProxySecret.generate(name: "c", form: .faketls) }
        #expect(try ProxySecret.generate(name: "d", form: .secure).hexText.count == 34)
        #expect(try ProxySecret.generate(name: "e", form: .classic).hexText.count == 32)
    }

    @Test func linksUseHex() throws {
        let secret = try ProxySecret(name: "main", text: Self.eeHex)
        let link = ProxyLink(server: "proxy.example.net", port: 443, secret: secret)
        #expect(link.telegramURL == "tg://proxy?server=proxy.example.net&port=443&secret=\(Self.eeHex)")
        #expect(link.webURL == "https://t.me/proxy?server=proxy.example.net&port=443&secret=\(Self.eeHex)")
        let v6 = ProxyLink(server: "[2001:db8::1]", port: 8443, secret: secret)
        #expect(v6.telegramURL.hasPrefix("tg://proxy?server=2001:db8::1&port=8443&"))
        #expect(ProxyLink(server: "a b&c", port: 1, secret: secret).webURL.contains("server=a%20b%26c&"))
    }

    @Test func descriptionsNeverCarryTheKey() throws {
        let secret = try ProxySecret(name: "main", text: Self.eeHex)
        let link = ProxyLink(server: "h", port: 1, secret: secret)
        for text in [secret.description, secret.debugDescription, "\(secret)", String(reflecting: secret), link.description] {
            #expect(!text.contains("00112233"))
            #expect(!text.contains("7777772e"))
        }
    }

    /// Random byte strings and text: parsing never crashes, the parsed secret round-trips
    /// through both text forms, and no error message repeats the input.
    @Test func randomInputNeverCrashesOrLeaks() {
        var random = SeededGenerator(seed: 0x5ec7e7)
        let alphabet = Array("0123456789abcdefABCDEFdeez-_+/=. \nwxyz")
        for round in 0..<5_000 {
            let text: String
            if round % 2 == 0 {
                text = String((0..<Int.random(in: 0..<80, using: &random)).map { _ in alphabet.randomElement(using: &random)! })
            } else {
                var bytes = (0..<Int.random(in: 15...40, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
                if Bool.random(using: &random) { bytes[0] = [0xdd, 0xee].randomElement(using: &random)! }
                text = Bool.random(using: &random) ? bytes.hexString : ProxySecret.base64URLEncode(bytes)
            }
            do {
                let secret = try ProxySecret(name: "r", text: text)
                #expect(try ProxySecret(name: "r", text: secret.hexText) == secret)
                #expect(try ProxySecret(name: "r", text: secret.base64URLText) == secret)
            } catch {
                if text.count >= 8 { #expect(!error.description.contains(text)) }
            }
        }
    }
}

