import ConfigFile
import EventLog
import Foundation
import Testing
@testable import Proxy

@Suite struct ProxyConfigurationLoadingTests {
    static let eeSecret = "ee00112233445566778899aabbccddeeff7777772e6578616d706c652e636f6d"
    static let minimal = "secrets:\n  - name: main\n    secret: \(eeSecret)\n"

    static var exampleFile: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("deploy/mtproxy.example.yaml").path
    }

    @Test func shippedExampleLoadsWithEveryKey() throws {
        let configuration = try ProxyConfiguration.load(path: Self.exampleFile)
        #expect(configuration.instance == "vps1")
        #expect(configuration.listen == ["0.0.0.0:443", "[::]:443"])
        #expect(configuration.secrets.map(\.name) == ["main"])
        #expect(configuration.secrets[0].domain == "www.example.com")
        #expect(configuration.transports == [.secure, .faketls])
        #expect(configuration.fronting.host == "www.example.com")
        #expect(configuration.telegram.dcs[2] == ["149.154.167.51:443"])
        #expect(configuration.telegram.dcs[203] == ["91.105.192.100:443", "[2a0a:f280:203:a:5000::100]:443"])
        #expect(configuration.telegram.dcs[1] == ProxyConfiguration.Telegram.defaultDCs[1])
        #expect(configuration.telegram.connectTimeoutMilliseconds == 10_000)
        #expect(configuration.limits.maxConnections == 10_000)
        #expect(configuration.limits.maxConnectionsPerIP == 10)
        #expect(configuration.limits.handshakeTimeoutMilliseconds == 10_000)
        #expect(configuration.limits.idleTimeoutMilliseconds == 300_000)
        #expect(configuration.blocklistPath == "/var/lib/mtshield/blocklist.txt")
        #expect(configuration.events.path == "/var/log/mtshield/events.jsonl")
        #expect(configuration.events.privacy == .minimized)
        #expect(configuration.stats.listen == "127.0.0.1:3001")
        #expect(configuration.user == "mtproxy")
        #expect(configuration.allowRoot == false)
        #expect(configuration.publicHost == "proxy.example.net")
        #expect(configuration.publicPort == 443)
    }

    /// Every top-level key the decoder knows is written in the shipped example.
    @Test func exampleDocumentsEveryKey() throws {
        let text = try String(contentsOfFile: Self.exampleFile, encoding: .utf8)
        for key in ProxyConfiguration.keys {
            #expect(text.contains("\n\(key):"), "deploy/mtproxy.example.yaml lacks \(key)")
        }
    }

    @Test func minimalFileTakesEveryDefault() throws {
        let configuration = try ProxyConfiguration.decode(yaml: Self.minimal, file: "m.yaml")
        var expected = ProxyConfiguration()
        expected.secrets = configuration.secrets
        expected.fronting.host = "www.example.com"
        #expect(configuration == expected)
    }

    @Test func listenersMayAskForAnyFreePort() throws {
        let yaml = Self.minimal + "listen: [\"127.0.0.1:0\", \"[::1]:0\"]\nstats:\n  listen: 127.0.0.1:0\n"
        let configuration = try ProxyConfiguration.decode(yaml: yaml, file: "p.yaml")
        #expect(configuration.listen == ["127.0.0.1:0", "[::1]:0"])
        #expect(configuration.stats.listen == "127.0.0.1:0")
        #expect(throws: ConfigError.self) {
            try ProxyConfiguration.decode(yaml: Self.minimal + "telegram:\n  dcs:\n    \"2\": 1.2.3.4:0\n", file: "p.yaml")
        }
    }

    @Test func nullSectionsDisableEventsAndStats() throws {
        let yaml = Self.minimal + "events:\n  path: null\nstats:\n  listen:\n"
        let configuration = try ProxyConfiguration.decode(yaml: yaml, file: "n.yaml")
        #expect(configuration.events.path == nil)
        #expect(configuration.stats.listen == nil)
    }

    @Test(arguments: [
        ("", "x.yaml:1: secrets: required key is missing"),
        ("secrets: []\n", "x.yaml:1: secrets: expected at least one secret; `mtproxy secret generate` makes one"),
        (minimal + "limts: {}\n", "x.yaml:4: limts: unknown key (did you mean limits?); expected one of allow_root, blocklist, events, fronting, instance, limits, listen, public_host, public_port, replay, rotation, secrets, stats, telegram, tls, transports, user"),
        (minimal + "limits:\n  idle_timeout: 5\n", "x.yaml:5: limits.idle_timeout: expected a duration such as 500ms, 30s, 5m, 2h or 7d, found \"5\""),
        (minimal + "limits:\n  handshake_timeout: 1h\n", "x.yaml:5: limits.handshake_timeout: must be between 100ms and 5m, found 1h"),
        (minimal + "limits:\n  max_connections: 0\n", "x.yaml:5: limits.max_connections: must be between 1 and 1000000, found 0"),
        (minimal + "listen: [\"0.0.0.0\"]\n", "x.yaml:4: listen[0]: expected host:port or [IPv6]:port; the port is missing, found \"0.0.0.0\""),
        (minimal + "listen: [\"::1:443\"]\n", "x.yaml:4: listen[0]: expected an IPv6 address in brackets, such as [::]:443, found \"::1:443\""),
        (minimal + "listen: [\"0.0.0.0:70000\"]\n", "x.yaml:4: listen[0]: expected host:port with a port between 1 and 65535 (0 only to listen on any free port), found \"0.0.0.0:70000\""),
        (minimal + "listen: [\"localhost:443\"]\n", "x.yaml:4: listen[0]: expected an IP address and port such as 0.0.0.0:443 or [::]:443; a DNS name is not allowed here, found \"localhost:443\""),
        (minimal + "listen: [\"0.0.0.0:443\", \"0.0.0.0:443\"]\n", "x.yaml:4: listen[1]: 0.0.0.0:443 is already listed at line 4"),
        (minimal + "listen: []\n", "x.yaml:4: listen: expected at least one address to listen on"),
        (minimal + "transports: []\n", "x.yaml:4: transports: expected at least one of classic, secure, faketls"),
        (minimal + "transports: [tls]\n", "x.yaml:4: transports[0]: expected one of classic, secure, faketls, found \"tls\""),
        (minimal + "transports: [classic]\n", "x.yaml:3: secrets[0].secret: the secret main is a faketls secret but transports does not include faketls; its clients could not connect"),
        (minimal + "telegram:\n  dcs:\n    \"-2\": \"1.2.3.4:443\"\n", "x.yaml:6: telegram.dcs.-2: DC ids are written positive: a client asking for -2 (media) is sent to the address of DC 2; write 2"),
        (minimal + "telegram:\n  dcs:\n    two: \"1.2.3.4:443\"\n", "x.yaml:6: telegram.dcs.two: a DC id must be a number such as 2 or 203, found \"two\""),
        (minimal + "telegram:\n  dcs:\n    \"2\": \"dc.example:443\"\n", "x.yaml:6: telegram.dcs.2: expected an IP address and port such as 0.0.0.0:443 or [::]:443; a DNS name is not allowed here, found \"dc.example:443\""),
        (minimal + "events:\n  privacy: some\n", "x.yaml:5: events.privacy: expected one of full, minimized, none, found \"some\""),
        (minimal + "allow_root: maybe\n", "x.yaml:4: allow_root: expected true or false, found \"maybe\""),
        (minimal + "instance: \"my proxy\"\n", "x.yaml:4: instance: expected a name of 1 to 64 letters, digits, '.', '_' or '-'"),
        (minimal + "fronting:\n  host: \"not a host\"\n", "x.yaml:5: fronting.host: expected a DNS name or an IP address, found \"not a host\""),
        ("secrets:\n  - name: a\n    secret: 00112233445566778899aabbccddeeff\n  - name: a\n    secret: 00112233445566778899aabbccddee00\n",
         "x.yaml:4: secrets[1].name: the name a is already used by the secret at line 2"),
        ("secrets:\n  - name: a\n    secret: 00112233445566778899aabbccddeeff\n  - name: b\n    secret: dd00112233445566778899aabbccddeeff\n",
         "x.yaml:5: secrets[1].secret: has the same key as the secret a at line 3; each secret needs its own key"),
        ("secrets:\n  - name: a\n    secret: 00112233\n", "x.yaml:3: secrets[0].secret: secret decodes to 4 bytes; expected 32 hex characters (classic), dd + 32 (secure) or ee + 32 + the domain in hex (fake TLS), in hex or base64url"),
        ("secrets:\n  - name: a\n    sekret: 00112233\n", "x.yaml:3: secrets[0].sekret: unknown key (did you mean secret?); expected one of created, name, retires_at, secret"),
    ])
    func badFilesSayWhereAndWhat(yaml: String, expected: String) {
        let error = #expect(throws: ConfigError.self) { try ProxyConfiguration.decode(yaml: yaml, file: "x.yaml") }
        #expect(error?.description == expected)
    }

    @Test func secretTextNeverAppearsInErrors() {
        let key = "00112233445566778899aabbccddeeff"
        let yaml = "secrets:\n  - name: a\n    secret: \(key)zz\n  - name: b\n    secret: ee\(key)www.example.com\n"
        let error = #expect(throws: ConfigError.self) { try ProxyConfiguration.decode(yaml: yaml, file: "x.yaml") }
        #expect(error?.description.contains("0011223344") == false)
    }

    @Test func problemsListsEveryIndependentErrorInFileOrder() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("mtshield-config-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("bad.yaml").path
        try "instance: \"a b\"\nlimits:\n  idle_timeout: x\nsecrets: []\nstats:\n  listen: nowhere\n".write(toFile: file, atomically: true, encoding: .utf8)
        let problems = ProxyConfiguration.problems(path: file)
        #expect(problems.map(\.line) == [1, 3, 4, 6])
        #expect(problems.allSatisfy { $0.file == file })
        #expect(ProxyConfiguration.problems(path: Self.exampleFile).isEmpty)
    }

    @Test func randomMutationsOfTheExampleNeverCrash() throws {
        let base = Array(try String(contentsOfFile: Self.exampleFile, encoding: .utf8).utf8)
        var random = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            var bytes = base
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                let position = Int.random(in: 0..<bytes.count, using: &random)
                if Bool.random(using: &random) {
                    bytes[position] = [UInt8(ascii: ":"), UInt8(ascii: "-"), UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "x"), UInt8(ascii: "["), UInt8(ascii: "0")].randomElement(using: &random)!
                } else {
                    bytes.remove(at: position)
                }
            }
            do {
                _ = try ProxyConfiguration.decode(yaml: String(decoding: bytes, as: UTF8.self), file: "fuzz.yaml")
            } catch {
                #expect(error.file == "fuzz.yaml")
            }
        }
    }

    @Test(arguments: [
        ("0.0.0.0:443", true), ("[::]:443", true), ("[2001:db8::1]:8443", true), ("127.0.0.1:1", true),
        ("0.0.0.0", false), ("::1:443", false), ("[::1]443", false), ("[1.2.3.4]:80", false), ("1.2.3.4:0", false), ("1.2.3.4:00", false),
        ("1.2.3.4:65536", false), ("1.2.3.4:+80", false), ("[::1]:", false), ("", false), (":443", false),
    ])
    func hostAndPortParsing(text: String, valid: Bool) throws {
        let parsed = try? HostAndPort.parse(text, allowName: false).get()
        #expect((parsed != nil) == valid)
        if let parsed { #expect(parsed.description == text) }
    }
}
