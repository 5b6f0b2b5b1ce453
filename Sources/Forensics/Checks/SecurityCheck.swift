import Foundation

/// The outcome of one item of the deployment security checklist (SECURITY-GUIDE.md).
public struct CheckOutcome: Sendable, Hashable, Codable {
    public enum Status: String, Sendable, Hashable, Codable {
        case pass, fail, unknown
    }

    /// Stable identifier, used by runbook `check` steps (`non_root_user`, `stats_loopback`, …).
    public var id: String
    public var title: String
    public var status: Status
    /// What was observed, in words; never a secret's value.
    public var detail: String
    /// What to do when the item fails or cannot be decided.
    public var fix: String?

    public init(id: String, title: String, status: Status, detail: String, fix: String? = nil) {
        self.id = id
        self.title = title
        self.status = status
        self.detail = detail
        self.fix = fix
    }
}

/// Where the checklist looks. Tests point `root` at a temporary folder built to pass or fail.
public struct CheckContext: Sendable {
    /// The proxy's configuration file, if known.
    public var proxyConfigPath: String?
    /// The auditor's configuration file, if known.
    public var auditorConfigPath: String?
    /// Prefix for every system path the checks read (`/` on the real machine).
    public var root: String
    public var now: Date

    public init(proxyConfigPath: String? = nil, auditorConfigPath: String? = nil, root: String = "/", now: Date = Date()) {
        self.proxyConfigPath = proxyConfigPath
        self.auditorConfigPath = auditorConfigPath
        self.root = root
        self.now = now
    }
}
