import EventLog

/// Which entries a timeline keeps: a time window and, optionally, one address, network or
/// address hash. Journal entries are the incident's own actions: the address filter keeps
/// them all, the time window does not.
public struct TimelineQuery: Sendable {
    public enum Subject: Sendable, Hashable {
        case address(IPAddress)
        case network(CIDR)
        /// An `ip_hash` value as the proxy writes it in hashed privacy mode.
        case hash(String)
    }

    public var from: Int64?
    public var until: Int64?
    public var subject: Subject?

    public init(from: Int64? = nil, until: Int64? = nil, subject: Subject? = nil) {
        self.from = from
        self.until = until
        self.subject = subject
    }

    /// Reads `--address`: an address, a network, or an address hash.
    public static func subject(_ text: String) -> Subject? {
        if let address = IPAddress(text) { return .address(address) }
        if let network = CIDR(text) { return .network(network) }
        let hexDigits = text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
        if text.utf8.count >= 8, text.utf8.count <= 64, hexDigits { return .hash(text) }
        return nil
    }

    func keeps(time: Int64) -> Bool {
        if let from, time < from { return false }
        if let until, time > until { return false }
        return true
    }

    func keeps(_ event: Event) -> Bool {
        guard keeps(time: event.timestampMilliseconds) else { return false }
        guard let subject else { return true }
        switch subject {
        case .address(let address):
            return event.sourceIP.flatMap { IPAddress($0) } == address
        case .network(let network):
            if let ip = event.sourceIP.flatMap({ IPAddress($0) }) { return network.contains(ip) }
            if let prefix = event.sourcePrefix.flatMap({ CIDR($0) }) {
                return prefix.length >= network.length && network.contains(prefix.network)
            }
            return false
        case .hash(let hash):
            return event.sourceIPHash == hash
        }
    }

    /// Whether an auditor entry about `value` (an address, network or hash) concerns the subject.
    func keeps(auditorValue value: String?, time: Int64) -> Bool {
        guard keeps(time: time) else { return false }
        guard let subject else { return true }
        guard let value else { return false }
        switch subject {
        case .address(let address):
            if let other = IPAddress(value) { return other == address }
            if let network = CIDR(value) { return network.contains(address) }
            return false
        case .network(let network):
            if let other = IPAddress(value) { return network.contains(other) }
            if let other = CIDR(value) {
                return other.network.isIPv4 == network.network.isIPv4
                    && (network.contains(other.network) || other.contains(network.network))
            }
            return false
        case .hash(let hash):
            return value == hash
        }
    }
}
