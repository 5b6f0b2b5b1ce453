import ConfigFile

/// The parts of mtproxy's configuration the checklist looks at, with mtproxy's defaults.
/// Read leniently: `mtproxy check-config` is what validates the file; here an unknown key
/// is no reason to stop checking the deployment.
struct ProxyFacts {
    struct Secret {
        var name: String
        var text: String
        /// `created:` (ms since the epoch); nil when absent or not a time.
        var created: Int64?
        /// `retires_at:`; nil for a secret in service.
        var retiresAt: Int64?
        /// `created:` was written but is not an RFC 3339 time.
        var createdUnreadable = false
    }

    static let defaultListen = ["0.0.0.0:8443", "[::]:8443"]
    static let defaultStatsListen = "127.0.0.1:3001"

    var path: String
    var user: String?
    var allowRoot = false
    var listen = ProxyFacts.defaultListen
    var secrets: [Secret] = []
    /// nil: stats disabled (`stats.listen: null`).
    var statsListen: String? = ProxyFacts.defaultStatsListen
    /// nil: no events (`events.path: null`); `-`: standard output.
    var eventsPath: String? = "-"

    init(path: String) throws(ConfigError) {
        self.path = path
        let root = try ConfigDocument.load(path: path)
        for (key, _, value) in try root.entries() {
            switch key {
            case "user":
                user = value.isNull ? nil : try value.string()
            case "allow_root":
                allowRoot = value.isNull ? false : try value.bool()
            case "listen":
                listen = value.isList ? try value.list { v throws(ConfigError) in try v.string() } : [try value.string()]
            case "secrets":
                for entry in try value.list() {
                    var name = entry.keyPath
                    var text: String?
                    var created: String?
                    var retiresAt: String?
                    for (field, _, fieldValue) in try entry.entries() {
                        if field == "name" { name = try fieldValue.string() }
                        if field == "secret" { text = try fieldValue.string() }
                        if field == "created" { created = try fieldValue.string() }
                        if field == "retires_at" { retiresAt = try fieldValue.string() }
                    }
                    guard let text else { throw entry.error("a secret needs `secret:`") }
                    let createdTime = created.flatMap { RFC3339.milliseconds(Array($0.utf8)) }
                    secrets.append(Secret(name: name, text: text, created: createdTime,
                                          retiresAt: retiresAt.flatMap { RFC3339.milliseconds(Array($0.utf8)) },
                                          createdUnreadable: created != nil && createdTime == nil))
                }
            case "stats":
                for (field, _, fieldValue) in try value.entries() where field == "listen" {
                    statsListen = fieldValue.isNull ? nil : try fieldValue.string()
                }
            case "events":
                for (field, _, fieldValue) in try value.entries() where field == "path" {
                    eventsPath = fieldValue.isNull ? nil : try fieldValue.string()
                }
            default:
                continue
            }
        }
    }

    /// The TCP ports clients connect to.
    var listenPorts: [Int] {
        var ports: [Int] = []
        for address in listen {
            if let port = HostPort(address)?.port, !ports.contains(port) { ports.append(port) }
        }
        return ports
    }
}

/// The parts of mtauditor's configuration the checklist looks at: the nftables table its
/// blocker fills.
struct AuditorFacts {
    var path: String
    var nftablesTable: String?

    init(path: String) throws(ConfigError) {
        self.path = path
        let root = try ConfigDocument.load(path: path)
        for (key, _, value) in try root.entries() where key == "blockers" && value.isList {
            for blocker in try value.list() {
                for (kind, _, settings) in try blocker.entries() where kind == "nftables" {
                    nftablesTable = "mtshield"
                    for (field, _, fieldValue) in try settings.entries() where field == "table" {
                        nftablesTable = try fieldValue.string()
                    }
                }
            }
        }
    }
}

/// `a.b.c.d:port`, `[v6]:port` or `name:port`.
struct HostPort: Equatable {
    var host: String
    var port: Int

    init?(_ text: String) {
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":"), let port = Int(rest.dropFirst()), (0...65535).contains(port) else { return nil }
            self.port = port
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            host = String(text[..<colon])
            guard let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port), !host.contains(":") else { return nil }
            self.port = port
        }
    }

    var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.") || host == "0:0:0:0:0:0:0:1"
    }

    var isWildcard: Bool { host == "0.0.0.0" || host == "::" || host.isEmpty }
}
