import EventLog

/// A block on one value, as the blockers and the proxy's blocklist understand it.
public struct Decision: Sendable, Hashable {
    public enum Scope: String, Sendable, Hashable, CaseIterable {
        /// One address.
        case ip
        /// A network (`source.prefix`).
        case cidr
        /// A keyed pseudonym of an address (`source.ip_hash`); the proxy enforces it.
        case ipHash = "ip_hash"

        /// What kind of value `text` is, or nil when it is none of them.
        public init?(value text: String) {
            // Bytes, not `contains("/")`: with Foundation in the module that resolves to
            // NSString's search, the cost of every decision.
            // An ip_hash is checked first: 32 hex digits are never an address, and it is
            // the cheaper test (a failed IPv6 parse is not cheap).
            let slash = UInt8(ascii: "/")
            if text.utf8.withContiguousStorageIfAvailable({ $0.contains(slash) }) ?? text.utf8.contains(slash) {
                guard CIDR(text) != nil else { return nil }
                self = .cidr
            } else if IPHasher.isHashText(text) {
                self = .ipHash
            } else if IPAddress(text) != nil {
                self = .ip
            } else {
                return nil
            }
        }
    }

    public enum Origin: String, Sendable, Hashable {
        case rule, manual
    }

    public var value: String
    public var scope: Scope
    /// The rule that made it (or the operator's note for a manual one).
    public var rule: String
    public var reason: String
    public var created: Int64
    public var until: Int64
    /// 1 for a first ban of this value, 2 for the second, …
    public var repeatCount: Int
    public var origin: Origin
    /// Decided under `simulation: true`: reported, never enforced.
    public var simulated: Bool

    public init(value: String, scope: Scope, rule: String, reason: String, created: Int64, until: Int64,
                repeatCount: Int, origin: Origin = .rule, simulated: Bool = false) {
        self.value = value
        self.scope = scope
        self.rule = rule
        self.reason = reason
        self.created = created
        self.until = until
        self.repeatCount = repeatCount
        self.origin = origin
        self.simulated = simulated
    }
}
