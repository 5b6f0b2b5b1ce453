import Yams

/// One node of a configuration file with its location: the file, the line and the key
/// path (`limits.idle_timeout`, `secrets[0].name`). Every accessor either returns a
/// value of the asked type or throws a `ConfigError` saying what was found and what is
/// expected.
public struct ConfigValue {
    /// Caps the nodes one document may yield, so that aliases expanding into each other
    /// cannot make decoding run for ever.
    final class Budget {
        static let maximumNodes = 200_000
        var remaining = maximumNodes
    }

    let node: Node?
    public let file: String
    /// The dotted key path from the document root; empty for the root.
    public let keyPath: String
    public let line: Int
    let budget: Budget

    init(node: Node?, file: String, keyPath: String, line: Int, budget: Budget) {
        self.node = node
        self.file = file
        self.keyPath = keyPath
        self.line = line
        self.budget = budget
    }

    /// An error located at this value.
    public func error(_ message: String) -> ConfigError {
        ConfigError(file: file, line: line, key: keyPath.isEmpty ? nil : keyPath, message: message)
    }

    /// True for an absent value, an empty value (`key:`), `~` and `null`.
    public var isNull: Bool {
        guard let node else { return true }
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    /// What a user would call the node's kind, for messages.
    var kindName: String {
        switch node {
        case nil: "nothing"
        case .mapping: "a mapping"
        case .sequence: "a list"
        case .alias: "an alias"
        case .scalar: isNull ? "nothing" : "a scalar"
        }
    }

    func child(_ node: Node, keyPath: String) throws(ConfigError) -> ConfigValue {
        budget.remaining -= 1
        if budget.remaining < 0 {
            throw ConfigError(file: file, line: line, message: "document expands to more than \(Budget.maximumNodes) nodes")
        }
        return ConfigValue(node: node, file: file, keyPath: keyPath, line: node.mark?.line ?? line, budget: budget)
    }

    /// True when the value is a list (for keys that take one item or a list of them).
    public var isList: Bool {
        if case .sequence = node { return true }
        return false
    }

    /// The scalar's text, unless the node is a mapping, a list or null; `expected` names
    /// what the key wants, for the error.
    public func scalarText(expected: String) throws(ConfigError) -> String {
        guard case .scalar(let scalar) = node, !isNull else {
            throw error("expected \(expected), found \(kindName)")
        }
        return scalar.string
    }

    var isPlainScalar: Bool {
        if case .scalar(let scalar) = node { return scalar.style == .plain || scalar.style == .any }
        return false
    }

    // MARK: Scalars

    /// Any non-empty scalar as text (`name: 123` is the text "123").
    public func string() throws(ConfigError) -> String {
        let text = try scalarText(expected: "a string")
        if text.isEmpty { throw error("expected a non-empty string") }
        return text
    }

    /// A string that must satisfy `isValid`; `expected` says what a valid one looks like.
    public func string(expected: String, where isValid: (String) -> Bool) throws(ConfigError) -> String {
        let text = try scalarText(expected: expected)
        guard isValid(text) else { throw error("expected \(expected)") }
        return text
    }

    /// A decimal integer (underscores between digits allowed) within `range`.
    public func int(in range: ClosedRange<Int> = Int.min...Int.max) throws(ConfigError) -> Int {
        let text = try scalarText(expected: "an integer")
        guard let value = ConfigText.integer(text) else {
            throw error("expected an integer, found \(ConfigText.quoted(text))")
        }
        guard range.contains(value) else {
            throw error("must be \(ConfigText.describe(range)), found \(value)")
        }
        return value
    }

    /// `true` or `false`.
    public func bool() throws(ConfigError) -> Bool {
        let text = try scalarText(expected: "true or false")
        switch text {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default: throw error("expected true or false, found \(ConfigText.quoted(text))")
        }
    }

    /// One of the raw values of `E`; the message lists them.
    public func `enum`<E: RawRepresentable & CaseIterable>(_ type: E.Type) throws(ConfigError) -> E where E.RawValue == String {
        let names = E.allCases.map(\.rawValue)
        let text = try scalarText(expected: "one of \(names.joined(separator: ", "))")
        guard let value = E(rawValue: text) else {
            throw error("expected one of \(names.joined(separator: ", ")), found \(ConfigText.quoted(text))")
        }
        return value
    }

    /// A duration such as `500ms`, `30s`, `5m`, `2h`, `7d` (or `1h30m`), within `range`.
    public func duration(in range: ClosedRange<Duration> = .zero...Duration.seconds(Int64.max / 1_000_000)) throws(ConfigError) -> Duration {
        let text = try scalarText(expected: "a duration such as 500ms, 30s, 5m, 2h or 7d")
        guard let value = ConfigText.duration(text) else {
            throw error("expected a duration such as 500ms, 30s, 5m, 2h or 7d, found \(ConfigText.quoted(text))")
        }
        guard range.contains(value) else {
            throw error("must be between \(ConfigText.format(range.lowerBound)) and \(ConfigText.format(range.upperBound)), found \(text)")
        }
        return value
    }

    /// A byte size such as `64KiB`, `100MiB`, `1GiB` (or a plain number of bytes), within `range`.
    public func byteSize(in range: ClosedRange<Int64> = 0...Int64.max) throws(ConfigError) -> Int64 {
        let text = try scalarText(expected: "a size such as 64KiB, 100MiB or 1GiB")
        guard let value = ConfigText.byteSize(text) else {
            throw error("expected a size such as 64KiB, 100MiB or 1GiB, found \(ConfigText.quoted(text))")
        }
        guard range.contains(value) else {
            throw error("must be between \(ConfigText.formatBytes(range.lowerBound)) and \(ConfigText.formatBytes(range.upperBound)), found \(text)")
        }
        return value
    }

    // MARK: Collections

    /// The elements of a list; a single scalar is not silently promoted to a list.
    public func list() throws(ConfigError) -> [ConfigValue] {
        guard case .sequence(let sequence) = node else {
            throw error("expected a list, found \(kindName)")
        }
        var elements: [ConfigValue] = []
        elements.reserveCapacity(sequence.count)
        for (index, element) in sequence.enumerated() {
            elements.append(try child(element, keyPath: "\(keyPath)[\(index)]"))
        }
        return elements
    }

    /// A list whose elements each decode with `element`.
    public func list<T>(_ element: (ConfigValue) throws(ConfigError) -> T) throws(ConfigError) -> [T] {
        var values: [T] = []
        for value in try list() {
            values.append(try element(value))
        }
        return values
    }

    /// A mapping with free-form keys (such as `telegram.dcs`), in file order. Each
    /// entry's `key` is located at the key and `value` at the value.
    public func entries() throws(ConfigError) -> [(key: String, keyValue: ConfigValue, value: ConfigValue)] {
        guard case .mapping(let mapping) = node else {
            if isNull { return [] }
            throw error("expected a mapping, found \(kindName)")
        }
        var result: [(key: String, keyValue: ConfigValue, value: ConfigValue)] = []
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                throw ConfigError(file: file, line: keyNode.mark?.line ?? line, key: keyPath.isEmpty ? nil : keyPath,
                                  message: "a key must be a plain string, not a mapping or list")
            }
            let path = keyPath.isEmpty ? scalar.string : "\(keyPath).\(scalar.string)"
            let keyValue = try child(keyNode, keyPath: path)
            result.append((scalar.string, keyValue, try child(valueNode, keyPath: path)))
        }
        return result
    }

    /// A mapping whose keys must all be in `keys`; an unknown key is an error that names
    /// the nearest known one. A null value (an empty section) is an empty mapping.
    public func mapping(keys: Set<String>) throws(ConfigError) -> ConfigMapping {
        var values: [String: ConfigValue] = [:]
        for entry in try entries() {
            guard keys.contains(entry.key) else {
                var message = "unknown key"
                if let near = ConfigText.nearest(to: entry.key, among: keys) {
                    message += " (did you mean \(near)?)"
                }
                message += "; expected one of \(keys.sorted().joined(separator: ", "))"
                throw entry.keyValue.error(message)
            }
            values[entry.key] = entry.value
        }
        return ConfigMapping(value: self, values: values)
    }
}

/// A mapping read with a declared key set: known keys only, each present or absent.
public struct ConfigMapping {
    /// The mapping itself, for errors about a missing key.
    public let value: ConfigValue
    let values: [String: ConfigValue]

    /// The value of `key`, or nil when absent or null.
    public subscript(key: String) -> ConfigValue? {
        guard let found = values[key], !found.isNull else { return nil }
        return found
    }

    /// True when `key` is written, even with a null value.
    public func contains(_ key: String) -> Bool { values[key] != nil }

    /// The value of `key`, or an error at the mapping saying it is required.
    public func required(_ key: String) throws(ConfigError) -> ConfigValue {
        guard let found = self[key] else {
            let path = value.keyPath.isEmpty ? key : "\(value.keyPath).\(key)"
            throw ConfigError(file: value.file, line: value.line, key: path, message: "required key is missing")
        }
        return found
    }

    /// Decodes `key` with `decode` when present; nil when absent or null.
    public func optional<T>(_ key: String, _ decode: (ConfigValue) throws(ConfigError) -> T) throws(ConfigError) -> T? {
        guard let found = self[key] else { return nil }
        return try decode(found)
    }

    /// Decodes `key` with `decode` into `target` when present; leaves the default otherwise.
    public func decode<T>(_ key: String, into target: inout T, _ decode: (ConfigValue) throws(ConfigError) -> T) throws(ConfigError) {
        if let found = self[key] {
            target = try decode(found)
        }
    }
}
