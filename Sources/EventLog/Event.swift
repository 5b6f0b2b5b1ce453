/// One line of the event log: the contract between mtproxy, mtauditor and mtforensics.
///
/// Keys are flat and dotted in the style of the Elastic Common Schema
/// (`docs/EVENTS.md` documents each). A field that is `nil` is not written.
/// Nothing in here may ever carry secret bytes, keys, payload or a client's SNI.
public struct Event: Sendable, Hashable {
    public static let schemaVersion = 1
    /// Upper bound of one encoded line, newline included (DESIGN.md).
    public static let maximumLineBytes = 4096

    /// `@timestamp`: milliseconds since the Unix epoch, UTC.
    public var timestampMilliseconds: Int64
    /// `event.action`
    public var action: EventAction
    /// `event.outcome`
    public var outcome: EventOutcome?
    /// `event.reason`: a short machine-readable word (`bad_secret`, `ip_limit`, …).
    public var reason: String?
    /// `source.ip`: written only where the privacy mode allows it.
    public var sourceIP: String?
    /// `source.port`
    public var sourcePort: Int?
    /// `source.ip_hash`: keyed HMAC-SHA256 of the address, hex, key rotated daily.
    public var sourceIPHash: String? {
        get { sourceIPHashValue?.description }
        set { sourceIPHashValue = newValue.map(IPHashValue.init) }
    }
    /// `source.ip_hash` as held: the proxy's 32 hex digits packed into two words, so that
    /// the many events that carry one make no heap string.
    public var sourceIPHashValue: IPHashValue?
    /// `source.prefix`: the /24 (IPv4) or /48 (IPv6) the address belongs to, CIDR text.
    public var sourcePrefix: String?
    /// `session.id`: random per connection, links the events of one connection.
    public var sessionID: String?
    /// `proxy.instance`
    public var instance: String?
    /// `proxy.listener`: the listen address that accepted the connection.
    public var listener: String?
    /// `proxy.transport`
    public var transport: ProxyTransport?
    /// `mt.secret`: the secret's configured name, never its bytes.
    public var secretName: String?
    /// `mt.dc`: the signed DC index the client asked for.
    public var dc: Int?
    /// `network.bytes_in`: bytes received from the client.
    public var bytesIn: UInt64?
    /// `network.bytes_out`: bytes sent to the client.
    public var bytesOut: UInt64?
    /// `event.duration_ms`
    public var durationMilliseconds: UInt64?
    /// `message`: a constant human-readable sentence, never data.
    public var message: String?
    /// Further keys an action documents in `docs/EVENTS.md` (`labels.*`), as text.
    public var labels: [String: String]

    public init(
        timestampMilliseconds: Int64,
        action: EventAction,
        outcome: EventOutcome? = nil,
        reason: String? = nil,
        sourceIP: String? = nil,
        sourcePort: Int? = nil,
        sourceIPHash: String? = nil,
        sourcePrefix: String? = nil,
        sessionID: String? = nil,
        instance: String? = nil,
        listener: String? = nil,
        transport: ProxyTransport? = nil,
        secretName: String? = nil,
        dc: Int? = nil,
        bytesIn: UInt64? = nil,
        bytesOut: UInt64? = nil,
        durationMilliseconds: UInt64? = nil,
        message: String? = nil,
        labels: [String: String] = [:]
    ) {
        self.timestampMilliseconds = timestampMilliseconds
        self.action = action
        self.outcome = outcome
        self.reason = reason
        self.sourceIP = sourceIP
        self.sourcePort = sourcePort
        self.sourceIPHashValue = sourceIPHash.map(IPHashValue.init)
        self.sourcePrefix = sourcePrefix
        self.sessionID = sessionID
        self.instance = instance
        self.listener = listener
        self.transport = transport
        self.secretName = secretName
        self.dc = dc
        self.bytesIn = bytesIn
        self.bytesOut = bytesOut
        self.durationMilliseconds = durationMilliseconds
        self.message = message
        self.labels = labels
    }
}

/// `event.action`: the vocabulary. Unknown actions from newer producers survive a round trip.
public struct EventAction: RawRepresentable, Sendable, Hashable, ExpressibleByStringLiteral, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    public static let proxyStarted: EventAction = "proxy.started"
    public static let proxyStopped: EventAction = "proxy.stopped"
    public static let configReloaded: EventAction = "config.reloaded"
    /// A reload that failed; the previous configuration keeps running.
    public static let configRejected: EventAction = "config.rejected"
    public static let blocklistReloaded: EventAction = "blocklist.reloaded"
    public static let connectionAccepted: EventAction = "connection.accepted"
    public static let connectionRejected: EventAction = "connection.rejected"
    public static let handshakeSucceeded: EventAction = "handshake.succeeded"
    public static let handshakeFailed: EventAction = "handshake.failed"
    public static let probeForwarded: EventAction = "probe.forwarded"
    public static let upstreamFailed: EventAction = "upstream.failed"
    public static let sessionClosed: EventAction = "session.closed"
    /// The event writer dropped events because its queue was full (`labels.dropped`).
    public static let eventsDropped: EventAction = "events.dropped"
    public static let secretRotated: EventAction = "secret.rotated"
    /// A rotated-out secret reached its `retires_at` and is no longer accepted.
    public static let secretRetired: EventAction = "secret.retired"

    /// Actions whose events are evidence of abuse: in `minimized` privacy they keep `source.ip`.
    public var isAbuseEvidence: Bool {
        self == .connectionRejected || self == .handshakeFailed || self == .probeForwarded
    }
}

public enum EventOutcome: String, Sendable, Hashable, CaseIterable {
    case success, failure
}

public enum ProxyTransport: String, Sendable, Hashable, CaseIterable, Codable {
    case classic, secure, faketls
}

/// Reasons used with `connection.rejected` and `handshake.failed` (and others where noted).
public enum EventReason {
    // connection.rejected
    public static let blocklisted = "blocklisted"
    public static let ipLimit = "ip_limit"
    public static let globalLimit = "global_limit"
    public static let rateLimit = "rate_limit"
    // handshake.failed
    public static let badSecret = "bad_secret"
    public static let unknownTag = "unknown_tag"
    public static let transportNotAllowed = "transport_not_allowed"
    public static let unknownDC = "unknown_dc"
    public static let replay = "replay"
    public static let tlsDigest = "tls_digest"
    public static let tlsSkew = "tls_skew"
    /// A fake-TLS hello that authenticated but whose SNI the configured policy refuses.
    public static let tlsSNI = "tls_sni"
    public static let timeout = "timeout"
    public static let malformed = "malformed"
    public static let closedEarly = "closed_early"
    // session.closed
    public static let idleTimeout = "idle_timeout"
    public static let clientClosed = "client_closed"
    public static let upstreamClosed = "upstream_closed"
    public static let shutdown = "shutdown"
}
