import ConfigFile
import EventLog

/// Strict decoding of the `mtauditor` configuration (DESIGN.md "Command lines and
/// configuration"). Unknown keys are errors, and every error names `file:line: key.path`.
extension AuditorConfiguration: ConfigFileFormat {
    public static let keys: Set<String> = [
        "sources", "rules", "state", "allowlist", "blockers", "reports", "simulation", "metrics", "bans",
        "poll_interval", "expiry_interval",
    ]

    public static func decodeSections(of mapping: ConfigMapping, into configuration: inout AuditorConfiguration, errors: inout ConfigErrors) {
        errors.collect { () throws(ConfigError) in
            configuration.sources = try sources(mapping.required("sources"))
        }
        errors.collect { () throws(ConfigError) in
            try mapping.decode("rules", into: &configuration.rules) { v throws(ConfigError) in try v.string() }
        }
        errors.collect { () throws(ConfigError) in
            // Written but null: no store, state in memory only.
            if mapping.contains("state") {
                configuration.state = try mapping.optional("state") { v throws(ConfigError) in try v.string() }
            }
        }
        errors.collect { () throws(ConfigError) in
            try mapping.decode("allowlist", into: &configuration.allowlist) { v throws(ConfigError) in
                try v.list { entry throws(ConfigError) in try network(entry) }
            }
        }
        errors.collect { () throws(ConfigError) in
            try mapping.decode("blockers", into: &configuration.blockers) { v throws(ConfigError) in try blockers(v) }
        }
        errors.collect { () throws(ConfigError) in
            configuration.reports = try mapping.optional("reports") { v throws(ConfigError) in try v.string() }
        }
        errors.collect { () throws(ConfigError) in
            try mapping.decode("simulation", into: &configuration.simulation) { v throws(ConfigError) in try v.bool() }
        }
        errors.collect { () throws(ConfigError) in
            try mapping.optional("metrics") { v throws(ConfigError) in try metrics(v, into: &configuration) }
        }
        errors.collect { () throws(ConfigError) in
            try mapping.optional("bans") { v throws(ConfigError) in try bans(v, into: &configuration.bans) }
        }
        errors.collect { () throws(ConfigError) in
            try mapping.decode("poll_interval", into: &configuration.pollIntervalMilliseconds) { v throws(ConfigError) in
                ConfigText.milliseconds(try v.duration(in: .milliseconds(1)...Duration.seconds(10)))
            }
        }
        errors.collect { () throws(ConfigError) in
            try mapping.decode("expiry_interval", into: &configuration.expiryIntervalMilliseconds) { v throws(ConfigError) in
                ConfigText.milliseconds(try v.duration(in: .milliseconds(10)...Duration.seconds(3_600)))
            }
        }
    }

    // MARK: Sections

    private static func sources(_ value: ConfigValue) throws(ConfigError) -> [String] {
        let paths = try value.list { entry throws(ConfigError) in try entry.string() }
        if paths.isEmpty { throw value.error("name at least one event file (or - for standard input)") }
        var seen = Set<String>()
        for (index, path) in paths.enumerated() where !seen.insert(path).inserted {
            throw try value.list()[index].error("\(ConfigText.quoted(path)) is listed twice")
        }
        return paths
    }

    private static func network(_ value: ConfigValue) throws(ConfigError) -> CIDR {
        let text = try value.scalarText(expected: "an address or network")
        guard let network = CIDR(text) else {
            throw value.error("expected an address or network such as 192.0.2.10 or 198.51.100.0/24 (host bits zero), found \(ConfigText.quoted(text))")
        }
        return network
    }

    static let blockerKinds = ["proxy", "nftables", "exec"]

    private static func blockers(_ value: ConfigValue) throws(ConfigError) -> [BlockerSettings] {
        var result: [BlockerSettings] = []
        var kinds = Set<String>()
        for entry in try value.list() {
            let pairs = try entry.entries()
            guard pairs.count == 1, let pair = pairs.first else {
                throw entry.error("each blocker is a mapping with one key: \(blockerKinds.joined(separator: ", "))")
            }
            let blocker: BlockerSettings
            switch pair.key {
            case "proxy":
                let settings = try pair.value.mapping(keys: ["path"])
                blocker = .proxy(path: try settings.required("path").string())
            case "nftables":
                let settings = try pair.value.mapping(keys: ["table"])
                let table = try settings.optional("table") { v throws(ConfigError) in
                    try v.string(expected: "a table name of 1 to 64 letters, digits or '_', starting with a letter") { text in
                        (1...64).contains(text.utf8.count) && text.utf8.allSatisfy(isTableNameByte)
                            && text.utf8.first.map { !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) && $0 != UInt8(ascii: "_") } == true
                    }
                }
                blocker = .nftables(table: table ?? "mtshield")
            case "exec":
                let settings = try pair.value.mapping(keys: ["command"])
                blocker = .exec(command: try command(settings.required("command")))
            default:
                var message = "unknown blocker"
                if let near = ConfigText.nearest(to: pair.key, among: blockerKinds) { message += " (did you mean \(near)?)" }
                throw pair.keyValue.error(message + "; expected one of \(blockerKinds.joined(separator: ", "))")
            }
            if !kinds.insert(pair.key).inserted, pair.key != "exec" {
                throw pair.keyValue.error("a \(pair.key) blocker is listed twice")
            }
            result.append(blocker)
        }
        return result
    }

    private static func isTableNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
            true
        default:
            false
        }
    }

    /// A command as a list of arguments, or one string split on spaces; never a shell line.
    private static func command(_ value: ConfigValue) throws(ConfigError) -> [String] {
        let arguments: [String]
        if value.isList {
            arguments = try value.list { entry throws(ConfigError) in try entry.string() }
        } else {
            arguments = try value.string().split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        }
        guard let program = arguments.first else { throw value.error("expected a command and its arguments") }
        guard program.hasPrefix("/") else {
            throw value.error("the program must be an absolute path (no shell or PATH lookup), found \(ConfigText.quoted(program))")
        }
        guard !program.contains("{") else {
            throw value.error("the program cannot be a placeholder; put {action}, {value}, {scope}, {duration} in its arguments")
        }
        guard arguments.dropFirst().contains(where: { $0.contains("{value}") }) else {
            throw value.error("no argument names {value}, the address, network or ip_hash to act on")
        }
        return arguments
    }

    private static func metrics(_ value: ConfigValue, into configuration: inout AuditorConfiguration) throws(ConfigError) {
        let settings = try value.mapping(keys: ["listen"])
        if settings.contains("listen") {
            configuration.metricsListen = try settings.optional("listen") { v throws(ConfigError) in try listenAddress(v) }
        }
    }

    static func listenAddress(_ value: ConfigValue) throws(ConfigError) -> ListenAddress {
        let text = try value.scalarText(expected: "host:port")
        let expected = "an IP address and port such as 127.0.0.1:3002 or [::1]:3002"
        guard let colon = text.lastIndex(of: ":") else { throw value.error("expected \(expected), found \(ConfigText.quoted(text))") }
        var host = String(text[..<colon])
        let portText = text[text.index(after: colon)...]
        if host.hasPrefix("[") && host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
        } else if host.contains(":") {
            throw value.error("expected \(expected) (an IPv6 address in brackets), found \(ConfigText.quoted(text))")
        }
        guard IPAddress(host) != nil, let port = ConfigText.integer(portText), (0...65_535).contains(port) else {
            throw value.error("expected \(expected), found \(ConfigText.quoted(text))")
        }
        return ListenAddress(host: host, port: port)
    }

    private static func bans(_ value: ConfigValue, into bans: inout BanDefaults) throws(ConfigError) {
        let settings = try value.mapping(keys: ["duration", "maximum"])
        try settings.decode("duration", into: &bans.durationMilliseconds) { v throws(ConfigError) in
            ConfigText.milliseconds(try v.duration(in: .seconds(1)...Duration.seconds(365 * 86_400)))
        }
        try settings.decode("maximum", into: &bans.maximumMilliseconds) { v throws(ConfigError) in
            ConfigText.milliseconds(try v.duration(in: .seconds(1)...Duration.seconds(365 * 86_400)))
        }
        if bans.durationMilliseconds > bans.maximumMilliseconds {
            throw (settings["duration"] ?? value).error("longer than bans.maximum (\(ConfigText.format(.milliseconds(bans.maximumMilliseconds))))")
        }
    }
}
