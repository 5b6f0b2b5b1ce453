import EventLog
import HeapModule

/// The decisions in force and each value's history of bans, kept in memory; decides
/// whether a rule that fired bans, for how long, or leaves the value alone.
public struct DecisionBook: Sendable {
    public enum Outcome: Sendable, Hashable {
        case decided(Decision)
        /// A decision for the value is still in force; nothing new.
        case alreadyBanned(Decision)
        /// The value is on, or overlaps, the allowlist.
        case allowlisted
        /// The value is not an address, network or ip_hash (an event carried junk).
        case notBannable
    }

    public var allowlist: [CIDR]
    public var simulation: Bool
    public private(set) var active: [String: Decision] = [:]
    private var earlierBans: [String: Int] = [:]
    /// When each decision put in `active` runs out, earliest first: `expire` pops what has
    /// run out instead of filtering every decision (rehashing the whole book) each sweep.
    /// An entry whose decision was lifted or replaced since is dropped when it comes up.
    private var expiries = Heap<Expiry>()

    private struct Expiry: Comparable, Sendable {
        var until: Int64
        var value: String
        static func < (lhs: Expiry, rhs: Expiry) -> Bool { lhs.until < rhs.until }
        static func == (lhs: Expiry, rhs: Expiry) -> Bool { lhs.until == rhs.until && lhs.value == rhs.value }
    }

    public init(allowlist: [CIDR] = [], simulation: Bool = false) {
        self.allowlist = allowlist
        self.simulation = simulation
    }

    /// A book restored from the state store: the decisions in force and how many times
    /// each value was banned before, so that escalation carries across a restart.
    public init(allowlist: [CIDR], simulation: Bool, active decisions: [Decision], banCounts: [String: Int]) {
        self.init(allowlist: allowlist, simulation: simulation)
        for decision in decisions {
            if let existing = active[decision.value], existing.until >= decision.until { continue }
            put(decision)
        }
        earlierBans = banCounts
    }

    /// How many times `value` was banned so far.
    public func banCount(of value: String) -> Int { earlierBans[value, default: 0] }

    /// Takes in a decision made elsewhere (an operator's manual ban): it is in force and counts as a ban.
    public mutating func adopt(_ decision: Decision) {
        put(decision)
        earlierBans[decision.value, default: 0] += 1
    }

    /// Drops the decision on `value` (an operator's unban); its ban count remains.
    @discardableResult
    public mutating func lift(_ value: String) -> Decision? {
        active.removeValue(forKey: value)
    }

    /// True when a ban on `value` would touch an allowlisted address: the address is
    /// inside an allowlisted network, or the network overlaps one.
    public func isAllowlisted(_ value: String) -> Bool {
        // Most deployments have none: skip parsing the value on every ban.
        if allowlist.isEmpty { return false }
        if let address = IPAddress(value) {
            return allowlist.contains { $0.contains(address) }
        }
        if let network = CIDR(value) {
            return allowlist.contains { allowed in
                allowed.network.isIPv4 == network.network.isIPv4
                    && (network.contains(allowed.network) || allowed.contains(network.network))
            }
        }
        return false
    }

    /// True when a decision on `value` is still in force at `time`: a ban then changes nothing.
    public func isInForce(_ value: String, at time: Int64) -> Bool {
        guard let existing = active[value] else { return false }
        return existing.until > time
    }

    public mutating func ban(_ value: String, rule: String, reason: String, policy: BanPolicy, at time: Int64) -> Outcome {
        guard let scope = Decision.Scope(value: value) else { return .notBannable }
        if isAllowlisted(value) { return .allowlisted }
        if let existing = active[value], existing.until > time { return .alreadyBanned(existing) }
        let earlier = earlierBans[value, default: 0]
        let decision = Decision(value: value, scope: scope, rule: rule, reason: reason, created: time,
                                until: time + policy.duration(earlierBans: earlier), repeatCount: earlier + 1,
                                simulated: simulation)
        earlierBans[value] = earlier + 1
        put(decision)
        return .decided(decision)
    }

    private mutating func put(_ decision: Decision) {
        active[decision.value] = decision
        expiries.insert(Expiry(until: decision.until, value: decision.value))
    }

    /// Drops decisions that have run out by `now`; their values' ban counts remain.
    public mutating func expire(now: Int64) {
        while let next = expiries.min, next.until <= now {
            expiries.removeMin()
            if let decision = active[next.value], decision.until <= now { active[next.value] = nil }
        }
    }
}

extension DecisionBook {
    /// Parses allowlist entries (addresses or networks) as given on a command line.
    public static func allowlist(_ entries: [String]) throws(AuditorError) -> [CIDR] {
        var networks: [CIDR] = []
        for entry in entries {
            guard let network = CIDR(entry) else {
                throw AuditorError.input(path: "--allowlist", message: "\"\(entry)\" is not an address or network (host bits must be zero)")
            }
            networks.append(network)
        }
        return networks
    }
}
