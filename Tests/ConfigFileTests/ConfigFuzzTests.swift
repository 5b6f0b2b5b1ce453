import Testing
@testable import ConfigFile

/// Deterministic pseudo-random source so a failing case can be replayed from its seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

@Suite struct ConfigFuzzTests {
    private static let seed = """
    instance: vps1
    listen: ["0.0.0.0:443", "[::]:443"]
    secrets:
      - name: main
        secret: ee00112233445566778899aabbccddeeff7777772e6578616d706c652e636f6d
    limits:
      max_connections: 10000
      handshake_timeout: 10s
      size: 64KiB
    dcs: {"2": "149.154.167.51:443", -2: x}
    anchors: &a [1, 2, *a]
    """

    private static let fragments = [
        ":", " ", "\n", "  ", "- ", "[", "]", "{", "}", ",", "\"", "'", "#", "&a ", "*a", "!!int ",
        "? ", "|", ">", "---", "...", "%YAML 1.1", "\t", "~", "null", "true", "10s", "64KiB", "-2",
        "key", "limits", "max_connections", "\u{0}", "\u{feff}", "é", "💥", "\r", "\\", "@", "`",
    ]

    /// Decodes `text` against a small schema; every failure must be a located ConfigError.
    private func decode(_ text: String) {
        do {
            let root = try ConfigDocument.parse(yaml: text, file: "fuzz.yaml")
            let mapping = try root.mapping(keys: ["instance", "listen", "secrets", "limits", "dcs", "anchors"])
            _ = try mapping.optional("instance") { v throws(ConfigError) in try v.string() }
            _ = try mapping.optional("listen") { v throws(ConfigError) in try v.list { e throws(ConfigError) in try e.string() } }
            _ = try mapping.optional("secrets") { v throws(ConfigError) in
                try v.list { e throws(ConfigError) in
                    let secret = try e.mapping(keys: ["name", "secret"])
                    return try secret.required("name").string() + secret.required("secret").string()
                }
            }
            if let limits = try mapping.optional("limits", { v throws(ConfigError) in try v.mapping(keys: ["max_connections", "handshake_timeout", "size"]) }) {
                _ = try limits.optional("max_connections") { v throws(ConfigError) in try v.int(in: 1...1_000_000) }
                _ = try limits.optional("handshake_timeout") { v throws(ConfigError) in try v.duration() }
                _ = try limits.optional("size") { v throws(ConfigError) in try v.byteSize() }
            }
            _ = try mapping.optional("dcs") { v throws(ConfigError) in
                for entry in try v.entries() { _ = try entry.value.string() }
            }
            _ = try mapping.optional("anchors") { v throws(ConfigError) in try v.list().count }
        } catch {
            #expect(error.file == "fuzz.yaml")
            #expect(!error.message.isEmpty)
        }
    }

    @Test func randomFragmentsNeverCrash() {
        var random = SplitMix64(seed: 0x6d74_7368_6965_6c64)
        for _ in 0..<3_000 {
            let count = Int.random(in: 0..<40, using: &random)
            let text = (0..<count).map { _ in Self.fragments.randomElement(using: &random)! }.joined()
            decode(text)
        }
    }

    @Test func mutatedValidDocumentsNeverCrash() {
        var random = SplitMix64(seed: 42)
        let base = Array(Self.seed.utf8)
        for _ in 0..<3_000 {
            var bytes = base
            for _ in 0..<Int.random(in: 1...6, using: &random) {
                let position = Int.random(in: 0..<bytes.count, using: &random)
                switch Int.random(in: 0..<3, using: &random) {
                case 0: bytes[position] = UInt8.random(in: 0...255, using: &random)
                case 1: bytes.remove(at: position)
                default:
                    let fragment = Self.fragments.randomElement(using: &random)!
                    bytes.insert(contentsOf: Array(fragment.utf8), at: position)
                }
            }
            decode(String(decoding: bytes, as: UTF8.self))
        }
    }

    @Test func randomTextNeverCrashesTheScalarParsers() {
        var random = SplitMix64(seed: 7)
        let alphabet = Array("0123456789smhdunKMGTiB_-+. x")
        for _ in 0..<20_000 {
            let text = String((0..<Int.random(in: 0..<12, using: &random)).map { _ in alphabet.randomElement(using: &random)! })
            if let duration = ConfigText.duration(text) {
                #expect(ConfigText.duration(ConfigText.format(duration)) == duration)
            }
            if let size = ConfigText.byteSize(text) {
                #expect(size >= 0)
            }
            _ = ConfigText.integer(text)
        }
    }
}
