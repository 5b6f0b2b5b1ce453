import ConfigFile

/// Everything that stops the auditor from doing what it was asked, with where and why.
public enum AuditorError: Error, Sendable, Hashable, CustomStringConvertible {
    /// One or more rule files are wrong; each error names file, line and key.
    case rules([ConfigError])
    /// An input (event file, rule directory) cannot be opened or read.
    case input(path: String, message: String)

    public var description: String {
        switch self {
        case .rules(let errors): errors.map(\.description).joined(separator: "\n")
        case .input(let path, let message): "\(path): \(message)"
        }
    }
}
