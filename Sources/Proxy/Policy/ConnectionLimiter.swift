import EventLog
import Synchronization

/// Accept-time admission by count: the global `max_connections` and the per-address
/// `max_connections_per_ip`. Limits are passed on each call so a reload applies to the
/// next connection. One short critical section per accept and per close, none per read.
public final class ConnectionLimiter: Sendable {
    public enum Admission: Sendable, Hashable {
        case admitted
        /// `event.reason`: `global_limit` or `ip_limit`.
        case rejected(reason: String)
    }

    private struct State {
        var total = 0
        var perAddress: [IPAddress: Int] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    /// Counts the connection if both limits allow it; every `.admitted` needs one `release`.
    public func admit(_ address: IPAddress, maxConnections: Int, maxConnectionsPerIP: Int) -> Admission {
        state.withLock { state in
            if state.total >= maxConnections {
                return .rejected(reason: EventReason.globalLimit)
            }
            let fromAddress = state.perAddress[address, default: 0]
            if fromAddress >= maxConnectionsPerIP {
                return .rejected(reason: EventReason.ipLimit)
            }
            state.total += 1
            state.perAddress[address] = fromAddress + 1
            return .admitted
        }
    }

    public func release(_ address: IPAddress) {
        state.withLock { state in
            state.total -= 1
            if let count = state.perAddress[address], count > 1 {
                state.perAddress[address] = count - 1
            } else {
                state.perAddress[address] = nil
            }
        }
    }

    public var activeConnections: Int { state.withLock { $0.total } }

    public func activeConnections(from address: IPAddress) -> Int {
        state.withLock { $0.perAddress[address, default: 0] }
    }
}
