import EventLog

extension DecisionStore {
    /// An operator's ban (`mtauditor decisions add`): `value` (an address, network or
    /// `ip_hash`) banned for `durationMilliseconds` from `now`. A ban in force on the same
    /// value is replaced, and returned so that blockers can refresh it. Refused when the value
    /// is not bannable or touches the allowlist.
    public func banManually(_ value: String, durationMilliseconds: Int64, reason: String, allowlist: [CIDR],
                            at now: Int64) async throws(AuditorError) -> (decision: Decision, replaced: [Decision]) {
        guard let scope = Decision.Scope(value: value) else {
            throw AuditorError.input(path: value, message: "not an IP address, a network (host bits zero) or an ip_hash")
        }
        guard durationMilliseconds > 0 else { throw AuditorError.input(path: value, message: "the duration must be positive") }
        if DecisionBook(allowlist: allowlist).isAllowlisted(value) {
            throw AuditorError.input(path: value, message: "on or overlapping the allowlist; refusing to ban it")
        }
        let replaced = try await lift(value, at: now)
        let decision = Decision(value: value, scope: scope, rule: "manual", reason: reason, created: now,
                                until: now + durationMilliseconds, repeatCount: try await banCount(of: value) + 1, origin: .manual)
        try await record([decision])
        return (decision, replaced)
    }
}
