import ConfigFile
import Foundation
import Yams

/// A proxy or auditor configuration as evidence: the keys a snapshot follows (paths of
/// events, blocklist, decisions, reports) and the secrets it holds. Read with Yams
/// directly, for the few keys needed, so that Forensics does not depend on the programs
/// whose evidence it takes.
public struct EvidenceConfiguration {
    public let role: ArtifactSpec.ConfigRole
    public let path: String
    public let text: String
    private let root: Node?

    /// A value that must not leave the host: where it is and what it is.
    public struct SensitiveValue: Sendable, Equatable {
        public var keyPath: String
        public var line: Int
        /// 1-based column where the value starts, as Yams reports it.
        public var column: Int
        public var value: String
    }

    public private(set) var sensitiveValues: [SensitiveValue] = []

    public init(role: ArtifactSpec.ConfigRole, path: String) throws(ConfigError) {
        let text = try ConfigDocument.readText(path: path)
        try self.init(role: role, path: path, text: text)
    }

    public init(role: ArtifactSpec.ConfigRole, path: String, text: String) throws(ConfigError) {
        _ = try ConfigDocument.parse(yaml: text, file: path)
        self.role = role
        self.path = path
        self.text = text
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw ConfigError(file: path, message: "not valid YAML")
        }
        var found: [SensitiveValue] = []
        if let root { Self.collectSensitive(root, keyPath: "", sensitiveContext: false, into: &found) }
        sensitiveValues = found
    }

    /// The string at a dotted key path (`events.path`), nil when absent, null or not a scalar.
    public func string(at keyPath: [String]) -> String? {
        var node = root
        for key in keyPath {
            guard case .mapping(let mapping)? = node else { return nil }
            node = mapping.first { pair in pair.key.scalar?.string == key }?.value
        }
        guard case .scalar(let scalar)? = node else { return nil }
        let text = scalar.string
        if scalar.style == .plain || scalar.style == .any, ["", "~", "null", "Null", "NULL"].contains(text) { return nil }
        return text
    }

    /// A path from the configuration, relative ones taken from the configuration's directory.
    public func resolvedPath(at keyPath: [String]) -> String? {
        guard let value = string(at: keyPath) else { return nil }
        if value.hasPrefix("/") || value == "-" { return value }
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        return (directory.isEmpty ? (path.hasPrefix("/") ? "" : ".") : directory) + "/" + value
    }

    /// Adds every secret of this configuration to `inventory`.
    public func registerSecrets(in inventory: inout SecretInventory) {
        for value in sensitiveValues { inventory.add(value.value) }
    }

    /// The configuration's text with every sensitive value replaced by its fingerprint,
    /// checked by reading the result back: if a secret survived (a value spread over
    /// lines, escapes), the text is withheld rather than risked.
    public func redactedText() throws(ForensicsError) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var inventory = SecretInventory()
        for sensitive in sensitiveValues {
            let fingerprint = inventory.add(sensitive.value)
            let index = sensitive.line - 1
            guard lines.indices.contains(index) else { continue }
            let line = lines[index]
            let start = line.index(line.startIndex, offsetBy: max(0, sensitive.column - 1), limitedBy: line.endIndex) ?? line.startIndex
            guard let range = line.range(of: sensitive.value, range: start..<line.endIndex)
                    ?? line.range(of: sensitive.value) else { continue }
            lines[index].replaceSubrange(range, with: fingerprint)
        }
        let result = lines.joined(separator: "\n")
        guard let check = try? EvidenceConfiguration(role: role, path: path, text: result) else {
            throw .usage("\(path): the configuration no longer parses after redaction; withheld")
        }
        let before = Set(sensitiveValues.map(\.value))
        if let survivor = check.sensitiveValues.first(where: { before.contains($0.value) }) {
            throw .usage("\(path):\(survivor.line): \(survivor.keyPath): a secret could not be redacted in place; withheld")
        }
        return result
    }

    static let sensitiveKeys: Set<String> = [
        "secret", "secrets", "password", "passwd", "passphrase", "token", "key", "dsn",
        "api_key", "apikey", "private_key", "access_key", "secret_key", "auth", "credentials",
    ]

    static func isSensitiveKey(_ key: String) -> Bool {
        let lower = key.lowercased()
        if sensitiveKeys.contains(lower) { return true }
        return ["_secret", "_password", "_token", "_key", "-secret", "-password", "-token", "-key"].contains { lower.hasSuffix($0) }
    }

    private static func collectSensitive(_ node: Node, keyPath: String, sensitiveContext: Bool,
                                         into found: inout [SensitiveValue]) {
        switch node {
        case .scalar(let scalar):
            let value = scalar.string
            guard !value.isEmpty else { return }
            if sensitiveContext {
                found.append(SensitiveValue(keyPath: keyPath, line: scalar.mark?.line ?? 0,
                                            column: scalar.mark?.column ?? 1, value: value))
            } else if let password = urlPassword(in: value) {
                found.append(SensitiveValue(keyPath: keyPath, line: scalar.mark?.line ?? 0,
                                            column: scalar.mark?.column ?? 1, value: password))
            }
        case .mapping(let mapping):
            for (key, value) in mapping {
                let name = key.scalar?.string ?? "?"
                let path = keyPath.isEmpty ? name : "\(keyPath).\(name)"
                // `secrets` holds entries whose `name` is public: only its scalars and `secret` keys are secret.
                let sensitive = isSensitiveKey(name) && !(name == "secrets" && value.mapping != nil)
                collectSensitive(value, keyPath: path, sensitiveContext: sensitive, into: &found)
            }
        case .sequence(let sequence):
            for (index, element) in sequence.enumerated() {
                let path = "\(keyPath)[\(index)]"
                // A list of mappings under `secrets`: their keys decide; bare scalars are secrets.
                if element.mapping != nil {
                    collectSensitive(element, keyPath: path, sensitiveContext: false, into: &found)
                } else {
                    collectSensitive(element, keyPath: path, sensitiveContext: sensitiveContext, into: &found)
                }
            }
        case .alias:
            return
        }
    }

    /// The password of a `scheme://user:password@host` URL.
    static func urlPassword(in value: String) -> String? {
        guard let scheme = value.range(of: "://") else { return nil }
        let rest = value[scheme.upperBound...]
        guard let at = rest.firstIndex(of: "@") else { return nil }
        let userinfo = rest[..<at]
        guard !userinfo.contains("/"), let colon = userinfo.firstIndex(of: ":") else { return nil }
        let password = userinfo[userinfo.index(after: colon)...]
        return password.isEmpty ? nil : String(password)
    }
}
