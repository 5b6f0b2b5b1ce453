import ConfigFile
import EventLog

/// Strict decoding of `mtproxy` YAML (DESIGN.md "Command lines and configuration";
/// every key is documented in `deploy/mtproxy.example.yaml`). Unknown keys are errors,
/// and every error names `file:line: key.path`.
extension ProxyConfiguration: ConfigFileFormat {
    public static let keys: Set<String> = [
        "instance", "listen", "secrets", "transports", "fronting", "tls", "replay", "telegram", "limits",
        "blocklist", "events", "stats", "user", "allow_root", "public_host", "public_port",
        "rotation",
    ]
    static let secretKeys: Set<String> = ["name", "secret", "retires_at", "created"]

    public static func decodeSections(of mapping: ConfigMapping, into configuration: inout ProxyConfiguration, errors: inout ConfigErrors) {
        errors.collect { () throws(ConfigError) in
            try mapping.decode("instance", into: &configuration.instance) { v throws(ConfigError) in try name(v) }
        }
        errors.collect { () throws(ConfigError) in
            try mapping.decode("listen", into: &configuration.listen) { v throws(ConfigError) in try listenAddresses(v) }
        }
        errors.collect { () throws(ConfigError) in
            configuration.secrets = try secrets(mapping.required("secrets"))
        }
        errors.collect { () throws(ConfigError) in
            try mapping.decode("transports", into: &configuration.transports) { v throws(ConfigError) in try transports(v) }
        }
        errors.collect { () throws(ConfigError) in
            try mapping.optional("fronting") { v throws(ConfigError) in try fronting(v, into: &configuration.fronting) }
        }
        errors.collect { () throws(ConfigError) in
            try mapping.optional("tls") { v throws(ConfigError) in try tls(v, into: &configuration.fakeTLS) }
        }
        errors.collect { () throws(ConfigError) in
            try mapping.optional("replay") { v throws(ConfigError) in try replay(v, into: &configuration.replay) }
        }
        errors.collect { () throws(ConfigError) in
            try mapping.optional("telegram") { v throws(ConfigError) in try telegram(v, into: &configuration.telegram) }
        }
        errors.collect { () throws(ConfigError) in
            try mapping.optional("limits") { v throws(ConfigError) in try limits(v, into: &configuration.limits) }
        }
        errors.collect { () throws(ConfigError) in
            configuration.blocklistPath = try mapping.optional("blocklist") { v throws(ConfigError) in try v.string() }
        }
        errors.collect { () throws(ConfigError) in
            try mapping.optional("events") { v throws(ConfigError) in try events(v, into: &configuration.events) }
        }
        errors.collect { () throws(ConfigError) in
            try mapping.optional("stats") { v throws(ConfigError) in try stats(v, into: &configuration.stats) }
        }
        errors.collect { () throws(ConfigError) in
            try mapping.optional("rotation") { v throws(ConfigError) in try rotation(v, into: &configuration.rotation) }
        }
        errors.collect { () throws(ConfigError) in
            configuration.user = try mapping.optional("user") { v throws(ConfigError) in try userName(v) }
        }
        errors.collect { () throws(ConfigError) in
            try mapping.decode("allow_root", into: &configuration.allowRoot) { v throws(ConfigError) in try v.bool() }
        }
        errors.collect { () throws(ConfigError) in
            configuration.publicHost = try mapping.optional("public_host") { v throws(ConfigError) in try publicHost(v) }
        }
        errors.collect { () throws(ConfigError) in
            configuration.publicPort = try mapping.optional("public_port") { v throws(ConfigError) in try v.int(in: 1...65_535) }
        }
        if configuration.fronting.host == nil {
            configuration.fronting.host = configuration.secrets.first { $0.form == .faketls }?.domain
        }
        errors.collect { () throws(ConfigError) in
            try checkSecretsMatchTransports(configuration, mapping: mapping)
        }
        errors.collect { () throws(ConfigError) in
            try checkReplayCoversTimestampWindow(configuration, mapping: mapping)
        }
    }

    // MARK: Sections

    private static func name(_ value: ConfigValue) throws(ConfigError) -> String {
        try value.string(expected: "a name of 1 to 64 letters, digits, '.', '_' or '-'") { text in
            (1...64).contains(text.utf8.count) && text.utf8.allSatisfy(isNameByte)
        }
    }

    private static func isNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }

    private static func address(_ value: ConfigValue, allowName: Bool, allowAnyPort: Bool = false) throws(ConfigError) -> HostAndPort {
        let text = try value.scalarText(expected: "host:port")
        switch HostAndPort.parse(text, allowName: allowName, allowAnyPort: allowAnyPort) {
        case .success(let parsed): return parsed
        case .failure(let problem): throw value.error("expected \(problem), found \(ConfigText.quoted(text))")
        }
    }

    private static func listenAddresses(_ value: ConfigValue) throws(ConfigError) -> [String] {
        var seen: [HostAndPort: Int] = [:]
        var result: [String] = []
        for element in try value.list() {
            let parsed = try address(element, allowName: false, allowAnyPort: true)
            if parsed.port != 0, let line = seen[parsed] {
                throw element.error("\(parsed) is already listed at line \(line)")
            }
            seen[parsed] = element.line
            result.append(parsed.description)
        }
        if result.isEmpty { throw value.error("expected at least one address to listen on") }
        return result
    }

    private static func secrets(_ value: ConfigValue) throws(ConfigError) -> [ProxySecret] {
        var result: [ProxySecret] = []
        var names: [String: Int] = [:]
        var keys: [[UInt8]: (name: String, line: Int)] = [:]
        for element in try value.list() {
            let entry = try element.mapping(keys: secretKeys)
            let nameValue = try entry.required("name")
            let secretName = try name(nameValue)
            if let line = names[secretName] {
                throw nameValue.error("the name \(secretName) is already used by the secret at line \(line)")
            }
            let secretValue = try entry.required("secret")
            let text = try secretValue.scalarText(expected: "a secret in hex or base64url")
            var secret: ProxySecret
            do {
                secret = try ProxySecret(name: secretName, text: text)
            } catch {
                throw secretValue.error(error.description)
            }
            if let other = keys[secret.key] {
                throw secretValue.error("has the same key as the secret \(other.name) at line \(other.line); each secret needs its own key")
            }
            secret.retiresAtMilliseconds = try entry.optional("retires_at") { v throws(ConfigError) in try retirementTime(v) }
            secret.createdMilliseconds = try entry.optional("created") { v throws(ConfigError) in try retirementTime(v) }
            names[secretName] = nameValue.line
            keys[secret.key] = (secretName, secretValue.line)
            result.append(secret)
        }
        if result.isEmpty { throw value.error("expected at least one secret; `mtproxy secret generate` makes one") }
        if result.allSatisfy({ $0.retiresAtMilliseconds != nil }) {
            throw value.error("every secret has retires_at; at least one must stay in service (remove retires_at from one, or add a secret)")
        }
        return result
    }

    private static func retirementTime(_ value: ConfigValue) throws(ConfigError) -> Int64 {
        let text = try value.scalarText(expected: "a UTC time such as 2026-01-31T12:00:00Z")
        guard let milliseconds = RetirementTime.parse(text) else {
            throw value.error("expected a UTC time such as 2026-01-31T12:00:00Z, found \(ConfigText.quoted(text))")
        }
        return milliseconds
    }

    private static func rotation(_ value: ConfigValue, into rotation: inout Rotation) throws(ConfigError) {
        let mapping = try value.mapping(keys: ["grace"])
        try mapping.decode("grace", into: &rotation.graceMilliseconds) { v throws(ConfigError) in
            ConfigText.milliseconds(try v.duration(in: .seconds(1)...Duration.seconds(90 * 86_400)))
        }
    }

    private static func transports(_ value: ConfigValue) throws(ConfigError) -> Set<ProxyTransport> {
        let list = try value.list { v throws(ConfigError) in try v.enum(ProxyTransport.self) }
        if list.isEmpty { throw value.error("expected at least one of classic, secure, faketls") }
        return Set(list)
    }

    private static func fronting(_ value: ConfigValue, into fronting: inout Fronting) throws(ConfigError) {
        let mapping = try value.mapping(keys: ["enabled", "host", "port", "connect_timeout"])
        try mapping.decode("enabled", into: &fronting.enabled) { v throws(ConfigError) in try v.bool() }
        fronting.host = try mapping.optional("host") { v throws(ConfigError) in try publicHost(v) }
        try mapping.decode("port", into: &fronting.port) { v throws(ConfigError) in try v.int(in: 1...65_535) }
        try mapping.decode("connect_timeout", into: &fronting.connectTimeoutMilliseconds) { v throws(ConfigError) in
            ConfigText.milliseconds(try v.duration(in: .milliseconds(100)...Duration.seconds(300)))
        }
    }

    private static func tls(_ value: ConfigValue, into tls: inout FakeTLSSettings) throws(ConfigError) {
        let mapping = try value.mapping(keys: ["max_clock_skew", "sni_policy", "allow_missing_sni"])
        if let skew = mapping["max_clock_skew"] {
            if (try? skew.entries()) != nil {
                let sides = try skew.mapping(keys: ["behind", "ahead"])
                try sides.decode("behind", into: &tls.maximumTimestampLag) { v throws(ConfigError) in try skewSeconds(v) }
                try sides.decode("ahead", into: &tls.maximumTimestampLead) { v throws(ConfigError) in try skewSeconds(v) }
            } else {
                let seconds = try skewSeconds(skew)
                tls.maximumTimestampLag = seconds
                tls.maximumTimestampLead = seconds
            }
        }
        try mapping.decode("sni_policy", into: &tls.serverNamePolicy) { v throws(ConfigError) in
            try v.enum(FakeTLSSettings.ServerNamePolicy.self)
        }
        try mapping.decode("allow_missing_sni", into: &tls.allowMissingServerName) { v throws(ConfigError) in try v.bool() }
    }

    private static func skewSeconds(_ value: ConfigValue) throws(ConfigError) -> Int64 {
        try value.duration(in: .seconds(1)...Duration.seconds(7 * 86_400)).components.seconds
    }

    private static func replay(_ value: ConfigValue, into replay: inout ReplayFilter.Configuration) throws(ConfigError) {
        let mapping = try value.mapping(keys: ["enabled", "max_memory", "ttl"])
        try mapping.decode("enabled", into: &replay.enabled) { v throws(ConfigError) in try v.bool() }
        try mapping.decode("max_memory", into: &replay.capacity) { v throws(ConfigError) in
            Int(try v.byteSize(in: 1 << 20...64 << 30) / Int64(ReplayFilter.maximumBytesPerEntry))
        }
        try mapping.decode("ttl", into: &replay.timeToLive) { v throws(ConfigError) in
            .milliseconds(ConfigText.milliseconds(try v.duration(in: .seconds(60)...Duration.seconds(30 * 86_400))))
        }
    }

    /// A replay entry must outlive the window in which its hello's timestamp is accepted,
    /// or a recorded hello could be played back once its entry expired.
    private static func checkReplayCoversTimestampWindow(_ configuration: ProxyConfiguration, mapping: ConfigMapping) throws(ConfigError) {
        let replay = configuration.replay
        let window = configuration.fakeTLS.timestampWindow
        guard replay.enabled, replay.timeToLive < .seconds(window) else { return }
        let place = (try? mapping["replay"]?.mapping(keys: ["enabled", "max_memory", "ttl"])["ttl"])
            ?? (try? mapping["tls"]?.mapping(keys: ["max_clock_skew", "sni_policy", "allow_missing_sni"])["max_clock_skew"])
            ?? mapping.value
        throw place.error("replay.ttl (\(ConfigText.format(.nanoseconds(replay.timeToLive.nanoseconds)))) must be at least the fake-TLS timestamp window, tls.max_clock_skew behind + ahead (\(ConfigText.format(.seconds(window)))): otherwise a recorded hello could be replayed after its entry expires")
    }

    private static func publicHost(_ value: ConfigValue) throws(ConfigError) -> String {
        let text = try value.scalarText(expected: "a DNS name or an IP address")
        var host = Substring(text)
        if host.first == "[" && host.last == "]" { host = host.dropFirst().dropLast() }
        guard IPAddress(host) != nil || HostAndPort.isDNSName(host) else {
            throw value.error("expected a DNS name or an IP address, found \(ConfigText.quoted(text))")
        }
        return String(host)
    }

    private static func telegram(_ value: ConfigValue, into telegram: inout Telegram) throws(ConfigError) {
        let mapping = try value.mapping(keys: ["dcs", "prefer_ipv6", "connect_timeout"])
        if let dcs = mapping["dcs"] {
            for entry in try dcs.entries() {
                let id = try dcID(entry.keyValue)
                let addresses: [ConfigValue]
                if entry.value.isList {
                    addresses = try entry.value.list()
                } else {
                    addresses = [entry.value]
                }
                var parsed: [String] = []
                for element in addresses {
                    parsed.append(try address(element, allowName: false).description)
                }
                if parsed.isEmpty { throw entry.value.error("expected at least one address for DC \(id)") }
                telegram.dcs[id] = parsed
            }
        }
        try mapping.decode("prefer_ipv6", into: &telegram.preferIPv6) { v throws(ConfigError) in try v.bool() }
        try mapping.decode("connect_timeout", into: &telegram.connectTimeoutMilliseconds) { v throws(ConfigError) in
            ConfigText.milliseconds(try v.duration(in: .milliseconds(100)...Duration.seconds(300)))
        }
    }

    /// DC ids are written positive; a client's negative (media) index and its test-DC
    /// offset are resolved by the data path against these entries (PROTOCOL.md §2.6).
    private static func dcID(_ key: ConfigValue) throws(ConfigError) -> Int {
        let text = try key.scalarText(expected: "a DC id")
        guard let id = ConfigText.integer(text) else {
            throw key.error("a DC id must be a number such as 2 or 203, found \(ConfigText.quoted(text))")
        }
        if id < 0 {
            throw key.error("DC ids are written positive: a client asking for \(id) (media) is sent to the address of DC \(-id); write \(-id)")
        }
        guard (1...32_767).contains(id) else {
            throw key.error("a DC id must be between 1 and 32767, found \(id)")
        }
        return id
    }

    private static func limits(_ value: ConfigValue, into limits: inout Limits) throws(ConfigError) {
        let mapping = try value.mapping(keys: ["max_connections", "max_connections_per_ip", "handshake_timeout", "idle_timeout"])
        try mapping.decode("max_connections", into: &limits.maxConnections) { v throws(ConfigError) in
            try v.int(in: 1...1_000_000)
        }
        try mapping.decode("max_connections_per_ip", into: &limits.maxConnectionsPerIP) { v throws(ConfigError) in
            try v.int(in: 1...1_000_000)
        }
        try mapping.decode("handshake_timeout", into: &limits.handshakeTimeoutMilliseconds) { v throws(ConfigError) in
            ConfigText.milliseconds(try v.duration(in: .milliseconds(100)...Duration.seconds(300)))
        }
        try mapping.decode("idle_timeout", into: &limits.idleTimeoutMilliseconds) { v throws(ConfigError) in
            ConfigText.milliseconds(try v.duration(in: .seconds(1)...Duration.seconds(7 * 86_400)))
        }
    }

    private static func events(_ value: ConfigValue, into events: inout Events) throws(ConfigError) {
        let mapping = try value.mapping(keys: ["path", "privacy", "queue_capacity"])
        if mapping.contains("path") {
            events.path = try mapping.optional("path") { v throws(ConfigError) in try v.string() }
        }
        try mapping.decode("privacy", into: &events.privacy) { v throws(ConfigError) in try v.enum(PrivacyMode.self) }
        try mapping.decode("queue_capacity", into: &events.queueCapacity) { v throws(ConfigError) in
            try v.int(in: 16...1_048_576)
        }
    }

    private static func stats(_ value: ConfigValue, into stats: inout Stats) throws(ConfigError) {
        let mapping = try value.mapping(keys: ["listen"])
        if mapping.contains("listen") {
            stats.listen = try mapping.optional("listen") { v throws(ConfigError) in try address(v, allowName: false, allowAnyPort: true).description }
        }
    }

    private static func userName(_ value: ConfigValue) throws(ConfigError) -> String {
        try value.string(expected: "a user name (letters, digits, '_', '-', '.', at most 32)") { text in
            (1...32).contains(text.utf8.count) && text.first != "-" && text.utf8.allSatisfy(isNameByte)
        }
    }

    /// A secret whose form's transport is not accepted could never be used by its clients.
    private static func checkSecretsMatchTransports(_ configuration: ProxyConfiguration, mapping: ConfigMapping) throws(ConfigError) {
        guard let list = mapping["secrets"], let elements = try? list.list() else { return }
        for (index, secret) in configuration.secrets.enumerated() where index < elements.count {
            let transport: ProxyTransport = switch secret.form {
            case .classic: .classic
            case .secure: .secure
            case .faketls: .faketls
            }
            guard configuration.transports.contains(transport) else {
                let place = (try? elements[index].mapping(keys: secretKeys).required("secret")) ?? elements[index]
                throw place.error("the secret \(secret.name) is a \(secret.form.rawValue) secret but transports does not include \(transport.rawValue); its clients could not connect")
            }
        }
    }
}
