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

    var instance: String { configuration.instance }
    var secrets: [ProxySecret] { configuration.secrets }
    var transports: Set<ProxyTransport> { configuration.transports }
    var limits: ProxyConfiguration.Limits { configuration.limits }

    init(_ configuration: ProxyConfiguration) {
        self.configuration = configuration
        var dcs: [Int: [UpstreamTarget]] = [:]
        for (dc, addresses) in configuration.telegram.dcs {
            var targets = addresses.compactMap { Endpoint($0).map(UpstreamTarget.init) }
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

/// `host:port` or `[v6]:port`, as written in `listen` and `telegram.dcs`.
struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    var host: String
    var port: Int

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    init?(_ text: String) {
        let hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portPart = rest.dropFirst()
            guard hostPart.contains(":") else { return nil }
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
            guard !hostPart.contains(":") else { return nil }
        }
        guard !hostPart.isEmpty, let port = Int(portPart), (0...65535).contains(port) else { return nil }
        self.host = String(hostPart)
        self.port = port
    }

    var isIPv6: Bool { host.contains(":") }

    /// The socket address when `host` is a literal address; nil for a name.
    var literalAddress: SocketAddress? {
        try? SocketAddress(ipAddress: host, port: port)
    }

    var description: String { isIPv6 ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// One address of a DC: a literal address, or a name resolved when connecting.
enum UpstreamTarget: Sendable, Hashable {
    case address(SocketAddress)
    case name(Endpoint)

    init(_ endpoint: Endpoint) {
        if let address = endpoint.literalAddress {
            self = .address(address)
        } else {
            self = .name(endpoint)
        }
    }

    var isIPv6: Bool {
        switch self {
        case .address(let address): if case .v6 = address { true } else { false }
        case .name(let endpoint): endpoint.isIPv6
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
