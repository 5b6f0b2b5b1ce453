import EventLog
import Synchronization

/// Live counters behind `/stats` and `/metrics`. Called from every event loop, so each
/// update is one short critical section; the relay reports bytes in batches, never per
/// read. Holds no address and no secret: only counts, by transport, reason and DC.
///
/// Reasons become label values, so only words of lower-case letters and underscores
/// (the event vocabulary, at most 32 characters) are kept as given; anything else is
/// counted as `other`. At most `maximumDCs` DC ids are tracked one by one.
public final class ProxyStats: Sendable {
    public static let maximumDCs = 64
    public static let otherReason = "other"

    public struct Snapshot: Sendable, Hashable {
        public var startedAtMilliseconds: Int64
        public var connectionsActive = 0
        public var connectionsTotal = 0
        public var activeByTransport: [ProxyTransport: Int] = [:]
        public var totalByTransport: [ProxyTransport: Int] = [:]
        public var rejectionsByReason: [String: Int] = [:]
        public var handshakeFailuresByReason: [String: Int] = [:]
        public var probesForwarded = 0
        /// Bytes received from clients / sent to clients.
        public var bytesFromClients: UInt64 = 0
        public var bytesToClients: UInt64 = 0
        public var byDC: [Int: DCCounters] = [:]
        public var eventsDropped: UInt64 = 0
    }

    public struct DCCounters: Sendable, Hashable {
        public var sessionsActive = 0
        public var sessionsTotal = 0
        public var upstreamFailures = 0
        public var bytesFromClients: UInt64 = 0
        public var bytesToClients: UInt64 = 0
    }

    private let state: Mutex<Snapshot>

    public init(startedAtMilliseconds: Int64) {
        state = Mutex(Snapshot(startedAtMilliseconds: startedAtMilliseconds))
    }

    public func snapshot() -> Snapshot { state.withLock { $0 } }

    /// A TCP connection was accepted and passed the accept-time policy.
    public func connectionOpened() {
        state.withLock { $0.connectionsActive += 1; $0.connectionsTotal += 1 }
    }

    /// A connection accepted by `connectionOpened` ended, whatever happened to it.
    public func connectionClosed() {
        state.withLock { $0.connectionsActive -= 1 }
    }

    /// Refused at accept time (`blocklisted`, `ip_limit`, `global_limit`, …).
    public func connectionRejected(reason: String) {
        let reason = Self.reasonLabel(reason)
        state.withLock { $0.rejectionsByReason[reason, default: 0] += 1 }
    }

    public func handshakeFailed(reason: String) {
        let reason = Self.reasonLabel(reason)
        state.withLock { $0.handshakeFailuresByReason[reason, default: 0] += 1 }
    }

    public func probeForwarded() {
        state.withLock { $0.probesForwarded += 1 }
    }

    /// The client authenticated and a session towards `dc` starts.
    public func sessionStarted(transport: ProxyTransport, dc: Int) {
        state.withLock {
            $0.activeByTransport[transport, default: 0] += 1
            $0.totalByTransport[transport, default: 0] += 1
            guard $0.tracks(dc: dc) else { return }
            $0.byDC[dc, default: DCCounters()].sessionsActive += 1
            $0.byDC[dc, default: DCCounters()].sessionsTotal += 1
        }
    }

    public func upstreamFailed(dc: Int) {
        state.withLock {
            guard $0.tracks(dc: dc) else { return }
            $0.byDC[dc, default: DCCounters()].upstreamFailures += 1
        }
    }

    /// Relayed bytes since the last call for this session (batched by the relay).
    public func bytesRelayed(dc: Int, fromClient: UInt64, toClient: UInt64) {
        state.withLock {
            $0.bytesFromClients &+= fromClient
            $0.bytesToClients &+= toClient
            guard $0.tracks(dc: dc) else { return }
            $0.byDC[dc, default: DCCounters()].bytesFromClients &+= fromClient
            $0.byDC[dc, default: DCCounters()].bytesToClients &+= toClient
        }
    }

    public func sessionEnded(transport: ProxyTransport, dc: Int) {
        state.withLock {
            $0.activeByTransport[transport, default: 0] -= 1
            guard $0.tracks(dc: dc) else { return }
            $0.byDC[dc, default: DCCounters()].sessionsActive -= 1
        }
    }

    public func eventsDropped(_ count: UInt64) {
        state.withLock { $0.eventsDropped &+= count }
    }

    /// `reason` if it is a vocabulary word (`[a-z_]{1,32}`), else `other`: no address,
    /// secret or other data can become a label.
    static func reasonLabel(_ reason: String) -> String {
        let bytes = reason.utf8
        guard (1...32).contains(bytes.count),
              bytes.allSatisfy({ ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || $0 == UInt8(ascii: "_") })
        else { return otherReason }
        return reason
    }
}

extension ProxyStats.Snapshot {
    /// False for a DC id beyond the first `ProxyStats.maximumDCs`: counted in the totals only.
    fileprivate func tracks(dc: Int) -> Bool {
        byDC[dc] != nil || byDC.count < ProxyStats.maximumDCs
    }
}
