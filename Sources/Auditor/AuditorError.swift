import ConfigFile

/// Everything that stops the auditor from doing what it was asked, with where and why.
public enum AuditorError: Error, Sendable, Hashable, CustomStringConvertible {
    /// One or more rule files are wrong; each error names file, line and key.
    case rules([ConfigError])
    /// An input (event file, rule directory) cannot be opened or read.
    case input(path: String, message: String)
    /// The state store (`state:`) cannot be opened, read or written.
    case state(path: String, message: String)
    /// A blocker could not apply a change; `values` names what it refused, when it refused
    /// only some values (a malformed or conflicting element) rather than failing whole.
    case blocker(name: String, message: String, values: [String] = [])

    public var description: String {
        switch self {
        case .rules(let errors): errors.map(\.description).joined(separator: "\n")
        case .input(let path, let message): "\(path): \(message)"
        case .state(let path, let message): "\(path): state store: \(message)"
        case .blocker(let name, let message, _): "blocker \(name): \(message)"
        }
    }
}
