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
    /// Prefix for every system path the checks read (`/` on the real machine): `/etc`,
    /// `/proc`, `/.dockerenv`. Paths named in a configuration or given here are used as they are.
    public var root: String
    public var now: Date
    /// Runs a command such as `nft list ruleset`; tests replace it.
    public var runCommand: CheckCommandRunner
    /// Where `make backup` writes (`backups/` holding `latest`); nil: the backup item is unknown.
    public var backupDirectory: String?
    /// How long the stats endpoint may take to answer.
    public var statsTimeout: Duration
    /// A secret older than this should be rotated (the guide: monthly).
    public var secretMaximumAge: Duration
    /// The latest backup must be younger than this.
    public var backupMaximumAge: Duration

    public init(proxyConfigPath: String? = nil, auditorConfigPath: String? = nil, root: String = "/", now: Date = Date(),
                runCommand: @escaping CheckCommandRunner = CheckCommand.system,
                backupDirectory: String? = nil,
                statsTimeout: Duration = .seconds(3),
                secretMaximumAge: Duration = .seconds(35 * 86_400),
                backupMaximumAge: Duration = .seconds(8 * 86_400)) {
        self.proxyConfigPath = proxyConfigPath
        self.auditorConfigPath = auditorConfigPath
        self.root = root
        self.now = now
        self.runCommand = runCommand
        self.backupDirectory = backupDirectory
        self.statsTimeout = statsTimeout
        self.secretMaximumAge = secretMaximumAge
        self.backupMaximumAge = backupMaximumAge
    }

    /// A system path under `root`.
    public func systemPath(_ path: String) -> String {
        if root == "/" || root.isEmpty { return path }
        return (root.hasSuffix("/") ? String(root.dropLast()) : root) + path
    }
}

/// What a command printed; `exitStatus` is nil when it could not run to its end
/// (not installed, timed out, killed).
public struct CheckCommandOutput: Sendable, Hashable {
    public var exitStatus: Int32?
    public var standardOutput: String
    public var standardError: String

    public init(exitStatus: Int32?, standardOutput: String, standardError: String = "") {
        self.exitStatus = exitStatus
        self.standardOutput = standardOutput
        self.standardError = standardError
    }
}

public typealias CheckCommandRunner = @Sendable ([String]) -> CheckCommandOutput

public enum CheckCommand {
    static let maximumOutput = 4 << 20

    /// Runs the command from the system's PATH with a 10-second limit and bounded output.
    public static let system: CheckCommandRunner = { argv in
        var output: [UInt8] = []
        do {
            let result = try CommandRunner.run(argv, timeout: .seconds(10)) { chunk in
                if output.count < maximumOutput { output += chunk.prefix(maximumOutput - output.count) }
            }
            return CheckCommandOutput(exitStatus: result.timedOut ? nil : result.exitStatus,
                                      standardOutput: String(decoding: output, as: UTF8.self),
                                      standardError: result.timedOut ? "timed out" : result.standardError)
        } catch CommandRunner.Failure.notFound(let name) {
            return CheckCommandOutput(exitStatus: nil, standardOutput: "", standardError: "\(name): not installed")
        } catch {
            return CheckCommandOutput(exitStatus: nil, standardOutput: "", standardError: "\(error)")
        }
    }
}
