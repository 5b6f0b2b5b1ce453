import EventLog

/// What `mtauditor run --config FILE` does, decoded strictly from YAML
/// (`AuditorConfiguration+Loading.swift`; every key is documented in
/// `deploy/mtauditor.example.yaml`). Each property's default is the one written here.
public struct AuditorConfiguration: Sendable, Hashable {
    /// Event files to tail; `-` is standard input. Required.
    public var sources: [String] = []
    /// The rule directory (`*.yaml`), reloaded on SIGHUP.
    public var rules = "/etc/mtshield/rules"
    /// The state store: decisions and tail positions. Nil (`state: null`) keeps them in
    /// memory only, so bans and positions are lost on restart.
    public var state: String? = "/var/lib/mtshield/auditor.sqlite"
    /// Addresses and networks never decided against, whatever a rule says.
    public var allowlist: [CIDR] = []
    /// Where decisions are enforced, in order.
    public var blockers: [BlockerSettings] = []
    /// Directory of per-alert reports (JSON, Markdown, HTML); nil writes none.
    public var reports: String?
    /// Decide and report, but enforce nothing.
    public var simulation = false
    /// Prometheus `/metrics`; nil (`metrics: { listen: null }`) serves none.
    public var metricsListen: ListenAddress? = ListenAddress(host: "127.0.0.1", port: 3002)
    public var bans = BanDefaults()
    /// How often the event files are checked for new lines when they were idle.
    public var pollIntervalMilliseconds: Int64 = 10
    /// How often expired bans are lifted from the blockers.
    public var expiryIntervalMilliseconds: Int64 = 1_000

    public init() {}

    /// `bans:` — limits every decision shares, and the length of a manual ban.
    public struct BanDefaults: Sendable, Hashable {
        /// The length of a manual ban (`decisions add` without `--duration`).
        public var durationMilliseconds: Int64 = 3_600_000
        /// No decision, from any rule, lasts longer than this.
        public var maximumMilliseconds: Int64 = 7 * 86_400_000

        public init() {}
    }

    /// `metrics.listen`: an IP literal and a port (0 picks a free one).
    public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
        public var host: String
        public var port: Int

        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }

        public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
    }
}

/// One entry of `blockers:`.
public enum BlockerSettings: Sendable, Hashable {
    /// The proxy's blocklist file, rewritten atomically; the proxy picks it up live.
    case proxy(path: String)
    /// A table the project owns, with IPv4 and IPv6 sets whose elements time out.
    case nftables(table: String)
    /// A command run for each ban and each lift; `{value}`, `{scope}`, `{seconds}`,
    /// `{rule}` in an argument are replaced. No shell is involved.
    case exec(ban: [String], unban: [String]?)

    public var name: String {
        switch self {
        case .proxy: "proxy"
        case .nftables: "nftables"
        case .exec: "exec"
        }
    }
}
