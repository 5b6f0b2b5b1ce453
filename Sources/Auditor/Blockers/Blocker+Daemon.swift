extension BlockerSettings {
    /// The blocker one `blockers:` entry configures.
    public func makeBlocker() throws(AuditorError) -> any Blocker {
        switch self {
        case .proxy(let path): ProxyBlocklistBlocker(path: path)
        case .nftables(let table): try NFTablesBlocker(table: table)
        case .exec(let command): try ExecBlocker(template: command)
        }
    }
}
