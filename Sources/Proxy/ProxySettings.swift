import EventLog
import Foundation
import NIOCore

/// What a new connection needs from the configuration, resolved once per (re)load so the
/// accept path does no parsing. Immutable: a reload swaps in a new instance and running
/// sessions keep the one they started with.
final class ProxySettings: Sendable {
    let configuration: ProxyConfiguration
    /// DC id (absolute) → addresses to try, in order.
    let dcs: [Int: [UpstreamTarget]]
    let handshakeTimeout: TimeAmount
    let idleTimeout: TimeAmount
    let connectTimeout: TimeAmount
    /// The `ee` secrets a ClientHello is checked against; empty: no fake TLS on this proxy.
    let fakeTLSSecrets: [ProxySecret]
    /// Where failed handshakes are spliced; nil: they are closed (`fronting.enabled: false`,
    /// or no host configured and no `ee` secret to take one from).
    let frontingTargets: [UpstreamTarget]?
    let frontingConnectTimeout: TimeAmount
    /// Shared by every connection, and kept across reloads that leave `replay` unchanged;
    /// nil when `replay.enabled` is false.
    let replayFilter: ReplayFilter?

    var instance: String { configuration.instance }
    var secrets: [ProxySecret] { configuration.secrets }
    var transports: Set<ProxyTransport> { configuration.transports }
    var limits: ProxyConfiguration.Limits { configuration.limits }
    var fakeTLS: FakeTLSSettings { configuration.fakeTLS }

    /// True when a client's first bytes must be read as a possible ClientHello.
    var acceptsFakeTLS: Bool { !fakeTLSSecrets.isEmpty }

    /// True when obfuscated2 without TLS records (classic or secure) is served.
    var acceptsPlainObfuscated2: Bool {
        configuration.transports.contains(.classic) || configuration.transports.contains(.secure)
    }

    /// - Parameter previous: the settings this reload replaces; their replay filter is kept
    ///   when `replay` did not change, so a reload never forgets recent handshakes.
    init(_ configuration: ProxyConfiguration, previous: ProxySettings? = nil) {
        self.configuration = configuration
        self.fakeTLSSecrets = configuration.transports.contains(.faketls)
            ? configuration.secrets.filter { $0.form == .faketls } : []
        if configuration.fronting.enabled, let host = configuration.fronting.host {
            self.frontingTargets = [UpstreamTarget(HostAndPort(host: host, port: configuration.fronting.port, address: IPAddress(host)))]
        } else {
            self.frontingTargets = nil
        }
        self.frontingConnectTimeout = .milliseconds(configuration.fronting.connectTimeoutMilliseconds)
        if !configuration.replay.enabled {
            self.replayFilter = nil
        } else if let previous, previous.configuration.replay == configuration.replay, let filter = previous.replayFilter {
            self.replayFilter = filter
        } else {
            self.replayFilter = ReplayFilter(configuration: configuration.replay)
        }
        var dcs: [Int: [UpstreamTarget]] = [:]
        for (dc, addresses) in configuration.telegram.dcs {
            var targets = addresses.compactMap { text in
                (try? HostAndPort.parse(text, allowName: true).get()).map(UpstreamTarget.init)
            }
            if configuration.telegram.preferIPv6 {
                targets = targets.filter(\.isIPv6) + targets.filter { !$0.isIPv6 }
            }
            if !targets.isEmpty { dcs[abs(dc)] = targets }
        }
        self.dcs = dcs
        self.handshakeTimeout = .milliseconds(configuration.limits.handshakeTimeoutMilliseconds)
        self.idleTimeout = .milliseconds(configuration.limits.idleTimeoutMilliseconds)
        self.connectTimeout = .milliseconds(configuration.telegram.connectTimeoutMilliseconds)
    }

    /// PROTOCOL.md §2.6: media DCs are negative and share the addresses of `|dc|`.
    func targets(forDC dc: Int) -> [UpstreamTarget]? {
        dcs[abs(dc)]
    }
}

/// One address of a DC: a literal address, or a name resolved when connecting.
enum UpstreamTarget: Sendable, Hashable {
    case address(SocketAddress)
    case name(HostAndPort)

    init(_ endpoint: HostAndPort) {
        if endpoint.address != nil, let address = try? SocketAddress(ipAddress: endpoint.host, port: endpoint.port) {
            self = .address(address)
        } else {
            self = .name(endpoint)
        }
    }

    var isIPv6: Bool {
        switch self {
        case .address(let address): if case .v6 = address { true } else { false }
        case .name(let endpoint): endpoint.host.contains(":")
        }
    }
}

/// Wall-clock time for event timestamps and durations; injected so tests fix it.
public struct ProxyClock: Sendable {
    public var milliseconds: @Sendable () -> Int64

    public init(milliseconds: @escaping @Sendable () -> Int64) {
        self.milliseconds = milliseconds
    }

    public static let system = ProxyClock { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
}
