import ConfigFile
import EventLog

/// Everything `mtproxy run` needs, decoded strictly from YAML (DESIGN.md, "mtproxy
/// configuration"). Every default is set here, once.
public struct ProxyConfiguration: Sendable, Hashable {
    /// Names this proxy in events (`proxy.instance`).
    public var instance: String = "mtproxy"
    /// Listen addresses, `host:port` or `[v6]:port`. Default: the guide's port 8443 on all addresses.
    public var listen: [String] = ["0.0.0.0:8443", "[::]:8443"]
    /// One or more secrets; required.
    public var secrets: [ProxySecret] = []
    /// Transports accepted; a client speaking another is refused (`transport_not_allowed`).
    public var transports: Set<ProxyTransport> = [.classic, .secure, .faketls]
    public var fronting = Fronting()
    /// Fake-TLS timestamp window, SNI policy and ServerHello shape (defaults in FakeTLSSettings).
    public var fakeTLS = FakeTLSSettings()
    /// The replay filter shared by all connections (defaults in ReplayFilter.Configuration).
    public var replay = ReplayFilter.Configuration()
    public var telegram = Telegram()
    public var limits = Limits()
    /// The live blocklist file; nil: none.
    public var blocklistPath: String? = nil
    public var events = Events()
    public var stats = Stats()
    public var rotation = Rotation()
    /// User to drop privileges to after binding; nil: stay as started.
    public var user: String? = nil
    /// Keep running as root when no `user` is given (refused otherwise).
    public var allowRoot: Bool = false
    /// Host name or address clients dial, for `mtproxy link`; nil: the first listen address
    /// that is not a wildcard, else the `--server` flag is needed.
    public var publicHost: String? = nil
    /// Port clients dial, for `mtproxy link`; nil: the port of the first listen address.
    public var publicPort: Int? = nil

    public struct Fronting: Sendable, Hashable {
        public var enabled: Bool = true
        /// Default: the domain of the first `ee` secret.
        public var host: String? = nil
        public var port: Int = 443
        /// How long to wait for the fronting site's TCP connection.
        public var connectTimeoutMilliseconds: Int64 = 10_000
        public init() {}
    }

    public struct Telegram: Sendable, Hashable {
        /// DC id → `host:port` (both address families may be listed, first preferred).
        public var dcs: [Int: [String]] = Telegram.defaultDCs
        /// Prefer IPv6 DC addresses when both exist.
        public var preferIPv6: Bool = false
        /// Connect timeout towards a DC.
        public var connectTimeoutMilliseconds: Int64 = 10_000
        public init() {}

        /// PROTOCOL.md §3.3.
        public static let defaultDCs: [Int: [String]] = [
            1: ["149.154.175.50:443", "[2001:b28:f23d:f001::a]:443"],
            2: ["149.154.167.51:443", "[2001:67c:4e8:f002::a]:443"],
            3: ["149.154.175.100:443", "[2001:b28:f23d:f003::a]:443"],
            4: ["149.154.167.91:443", "[2001:67c:4e8:f004::a]:443"],
            5: ["149.154.171.5:443", "[2001:b28:f23f:f005::a]:443"],
            203: ["91.105.192.100:443", "[2a0a:f280:203:a:5000::100]:443"],
        ]
    }

    public struct Limits: Sendable, Hashable {
        public var maxConnections: Int = 10_000
        public var maxConnectionsPerIP: Int = 10
        public var handshakeTimeoutMilliseconds: Int64 = 10_000
        public var idleTimeoutMilliseconds: Int64 = 300_000
        public init() {}
    }

    public struct Events: Sendable, Hashable {
        /// File path, "-" for standard output, nil for none.
        public var path: String? = "-"
        public var privacy: PrivacyMode = .minimized
        /// Events queued before the writer drops (and counts) new ones.
        public var queueCapacity: Int = 8192
        public init() {}
    }

    public struct Stats: Sendable, Hashable {
        /// `host:port` of the /stats and /metrics endpoint; nil disables it.
        public var listen: String? = "127.0.0.1:3001"
        public init() {}
    }

    public struct Rotation: Sendable, Hashable {
        /// How long `mtproxy secret rotate` keeps the old secret working beside the new one.
        public var graceMilliseconds: Int64 = 86_400_000
        public init() {}
    }

    public init() {}
}

extension ProxyConfiguration {
    /// This configuration without the secrets whose `retires_at` is at or before `now`:
    /// what the proxy accepts at that moment.
    public func inForce(atMilliseconds now: Int64) -> ProxyConfiguration {
        var result = self
        result.secrets = secrets.filter { secret in secret.retiresAtMilliseconds.map { $0 > now } ?? true }
        return result
    }

    /// The earliest `retires_at` after `now`, when a secret is still to retire.
    public func nextRetirement(afterMilliseconds now: Int64) -> Int64? {
        secrets.compactMap(\.retiresAtMilliseconds).filter { $0 > now }.min()
    }
}
