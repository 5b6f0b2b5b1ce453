extension BlockerSettings {
    /// The blocker one `blockers:` entry configures.
    public func makeBlocker() throws(AuditorError) -> any Blocker {
        switch self {
        case .proxy(let path): ProxyBlocklistBlocker(path: path)
        case .nftables(let table): try NFTablesBlocker(table: table)
        case .exec(let ban, let unban): try ExecBlocker(ban: ban, unban: unban)
        }
    }
}

extension EnforcementTarget {
    /// The daemon's handle on `blocker`: bans and lifts as batches, timed by `now`, with the
    /// values the blocker cannot enforce (an `ip_hash` for nftables) left out.
    public init(_ blocker: any Blocker, now: @escaping @Sendable () -> Int64) {
        self.init(name: blocker.name,
                  ban: { decisions in
                      let accepted = decisions.filter { blocker.accepts($0.scope) }
                      if !accepted.isEmpty { try await blocker.apply(added: accepted, removed: [], now: now()) }
                  },
                  unban: { decisions in
                      let accepted = decisions.filter { blocker.accepts($0.scope) }
                      if !accepted.isEmpty { try await blocker.apply(added: [], removed: accepted, now: now()) }
                  })
    }
}

extension DecisionStore: DecisionLedger {}
