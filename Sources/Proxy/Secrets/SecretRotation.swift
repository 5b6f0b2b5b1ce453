import ConfigFile

/// `mtproxy secret rotate` and `secret prune` as edits of the configuration text, so that
/// comments, key order and every other line stay as the operator wrote them.
///
/// Rotating the secret `main` (block-style entries, as `make run` writes them):
///
///     secrets:
///       - name: main                                  # the new secret takes the name
///         secret: <new key, same form and domain>
///         created: 2026-01-31T12:00:00Z               # now: `mtforensics check` dates it
///       - name: main.retiring-20260131-120000         # the old one, renamed
///         retires_at: 2026-02-01T12:00:00Z            # now + rotation.grace (or --grace)
///         secret: <old key>
///
/// Entries whose `retires_at` has passed are removed by either command. The proxy stops
/// accepting a retiring secret at its `retires_at` on its own, without a reload.
public enum SecretRotation {
    public struct Rotated: Sendable {
        /// The full new configuration text.
        public var text: String
        /// The new secret, under the old one's name.
        public var secret: ProxySecret
        /// The old secret under its new name, with its `retires_at`.
        public var retiring: ProxySecret
        /// Names of entries removed because their `retires_at` had passed.
        public var removed: [String]
    }

    public struct Pruned: Sendable {
        public var text: String
        public var removed: [String]
    }

    /// Rotates the secret `name` (default: the only one in service).
    /// - Parameters:
    ///   - grace: how long the old secret keeps working; nil: `rotation.grace`.
    ///   - replacement: the new secret's key; nil: 16 fresh CSPRNG bytes.
    public static func rotate(text: String, file: String, name: String?, grace: Int64?, nowMilliseconds now: Int64,
                              replacement: [UInt8]? = nil) throws(ConfigError) -> Rotated {
        let configuration = try ProxyConfiguration.decode(yaml: text, file: file)
        let elements = try secretElements(text: text, file: file)
        let inService = configuration.secrets.filter { $0.retiresAtMilliseconds == nil }
        let index: Int
        if let name {
            guard let found = configuration.secrets.firstIndex(where: { $0.name == name }) else {
                throw ConfigError(file: file, key: "secrets", message: "no secret is named \(ConfigText.quoted(name)); there are \(configuration.secrets.map(\.name).joined(separator: ", "))")
            }
            guard configuration.secrets[found].retiresAtMilliseconds == nil else {
                throw ConfigError(file: file, line: elements[found].line, key: "secrets[\(found)]",
                                  message: "\(name) is already retiring; rotate the secret in service that replaced it")
            }
            index = found
        } else {
            guard inService.count == 1, let only = configuration.secrets.firstIndex(where: { $0.retiresAtMilliseconds == nil }) else {
                throw ConfigError(file: file, key: "secrets",
                                  message: "\(inService.count) secrets are in service (\(inService.map(\.name).joined(separator: ", "))); name the one to rotate with --name")
            }
            index = only
        }
        let old = configuration.secrets[index]
        // Whole seconds, rounded up: the file stays readable and the grace is never shorter.
        let retiresAt = (now + (grace ?? configuration.rotation.graceMilliseconds) + 999) / 1000 * 1000
        var secret: ProxySecret
        do {
            secret = try ProxySecret.generate(name: old.name, form: old.form, domain: old.domain)
        } catch {
            throw ConfigError(file: file, line: elements[index].line, key: "secrets[\(index)].secret", message: error.description)
        }
        if let replacement, replacement.count == 16 { secret.key = replacement }
        secret.createdMilliseconds = now - now % 1000
        var retiring = old
        retiring.name = retiringName(old.name, nowMilliseconds: now)
        retiring.retiresAtMilliseconds = retiresAt
        guard !configuration.secrets.contains(where: { $0.name == retiring.name }) else {
            throw ConfigError(file: file, key: "secrets", message: "a secret named \(retiring.name) already exists; rotate again in a second")
        }

        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let layout = try entryLayout(elements[index], lines: lines, file: file)
        let expired = expiredRanges(configuration: configuration, elements: elements, lines: lines, now: now)
        // Bottom-up, so every line number still points where it did.
        var edits: [(line: Int, apply: (inout [String]) -> Void)] = expired.map { range in
            (range.lowerBound, { $0.removeSubrange(range) })
        }
        let indent = String(repeating: " ", count: layout.keyColumn)
        edits.append((layout.nameLine, { lines in
            lines[layout.nameLine] = layout.namePrefix + retiring.name
            lines.insert(indent + "retires_at: " + RetirementTime.format(milliseconds: retiresAt), at: layout.nameLine + 1)
        }))
        edits.append((layout.firstLine, { lines in
            let dash = String(repeating: " ", count: layout.dashColumn) + "-"
                + String(repeating: " ", count: layout.keyColumn - layout.dashColumn - 1)
            lines.insert(contentsOf: [dash + "name: " + secret.name, indent + "secret: " + secret.hexText,
                                      indent + "created: " + RetirementTime.format(milliseconds: secret.createdMilliseconds!)],
                         at: layout.firstLine)
        }))
        // The name line is edited before the entry's first line gets a new entry above it.
        for edit in edits.enumerated().sorted(by: { ($0.element.line, -$0.offset) > ($1.element.line, -$1.offset) }) {
            edit.element.apply(&lines)
        }
        let rewritten = lines.joined(separator: "\n")

        let check = try ProxyConfiguration.decode(yaml: rewritten, file: file)
        guard check.secrets.contains(where: { $0.name == secret.name && $0.key == secret.key && $0.retiresAtMilliseconds == nil
                                               && $0.createdMilliseconds == secret.createdMilliseconds }),
              check.secrets.contains(where: { $0.name == retiring.name && $0.key == old.key && $0.retiresAtMilliseconds == retiresAt }),
              check.secrets.count == configuration.secrets.count + 1 - expired.count else {
            throw ConfigError(file: file, key: "secrets", message: "the secrets could not be edited in place; the file is unchanged")
        }
        let removed = configuration.secrets.filter { ($0.retiresAtMilliseconds ?? Int64.max) <= now }.map(\.name)
        return Rotated(text: rewritten, secret: secret, retiring: retiring, removed: removed)
    }

    /// Removes the entries whose `retires_at` is at or before `now`.
    public static func prune(text: String, file: String, nowMilliseconds now: Int64) throws(ConfigError) -> Pruned {
        let configuration = try ProxyConfiguration.decode(yaml: text, file: file)
        let elements = try secretElements(text: text, file: file)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let expired = expiredRanges(configuration: configuration, elements: elements, lines: lines, now: now)
        for range in expired.sorted(by: { $0.lowerBound > $1.lowerBound }) {
            lines.removeSubrange(range)
        }
        let rewritten = lines.joined(separator: "\n")
        let check = try ProxyConfiguration.decode(yaml: rewritten, file: file)
        guard check.secrets.count == configuration.secrets.count - expired.count else {
            throw ConfigError(file: file, key: "secrets", message: "the secrets could not be edited in place; the file is unchanged")
        }
        let removed = configuration.secrets.filter { ($0.retiresAtMilliseconds ?? Int64.max) <= now }.map(\.name)
        return Pruned(text: rewritten, removed: removed)
    }

    /// `main.retiring-20260131-120000`, the base shortened so the whole stays a valid name.
    static func retiringName(_ name: String, nowMilliseconds now: Int64) -> String {
        let stamp = RetirementTime.format(milliseconds: now - now % 1000)
        let digits = stamp.filter(\.isNumber)
        let suffix = ".retiring-" + digits.prefix(8) + "-" + digits.dropFirst(8).prefix(6)
        return String(name.prefix(64 - suffix.count)) + suffix
    }

    // MARK: Text layout

    private static func secretElements(text: String, file: String) throws(ConfigError) -> [ConfigValue] {
        let root = try ConfigDocument.parse(yaml: text, file: file)
        return try root.mapping(keys: ProxyConfiguration.keys).required("secrets").list()
    }

    /// Where one block-style entry sits: its `-` line, the line of `name:`, and columns.
    private struct EntryLayout {
        /// 0-based index of the line holding the entry's `-`.
        var firstLine: Int
        /// 0-based index of the line holding `name:`.
        var nameLine: Int
        /// Everything on the name line up to and including `name: `.
        var namePrefix: String
        var dashColumn: Int
        var keyColumn: Int
    }

    private static func entryLayout(_ element: ConfigValue, lines: [String], file: String) throws(ConfigError) -> EntryLayout {
        let blockStyle = ConfigError(file: file, line: element.line, key: element.keyPath,
                                     message: "secret rotate edits block-style entries (`- name: …` and `secret: …` on lines of their own); write this entry that way")
        let entry = try element.mapping(keys: ProxyConfiguration.secretKeys)
        let nameValue = try entry.required("name")
        let secretValue = try entry.required("secret")
        let firstLine = element.line - 1
        let nameLine = nameValue.line - 1
        guard nameValue.line != secretValue.line, firstLine >= 0, nameLine >= firstLine, nameLine < lines.count else {
            throw blockStyle
        }
        let first = Array(lines[firstLine].utf8)
        let dashColumn = first.prefix { $0 == UInt8(ascii: " ") }.count
        guard dashColumn < first.count, first[dashColumn] == UInt8(ascii: "-") else { throw blockStyle }
        let keyColumn = dashColumn + 1 + first[(dashColumn + 1)...].prefix { $0 == UInt8(ascii: " ") }.count
        guard keyColumn > dashColumn + 1, keyColumn < first.count else { throw blockStyle }

        let name = Array(lines[nameLine].utf8)
        // The key as written: plain, or quoted as generated YAML often has it.
        guard let keyText = ["name:", "\"name\":", "'name':"].map({ Array($0.utf8) }).first(where: { key in
                  name.count > keyColumn + key.count && Array(name[keyColumn..<keyColumn + key.count]) == key
              }),
              name[..<keyColumn].allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "-") }) else {
            throw blockStyle
        }
        let valueStart = keyColumn + keyText.count + name[(keyColumn + keyText.count)...].prefix { $0 == UInt8(ascii: " ") }.count
        return EntryLayout(firstLine: firstLine, nameLine: nameLine,
                           namePrefix: String(decoding: name[..<valueStart], as: UTF8.self),
                           dashColumn: dashColumn, keyColumn: keyColumn)
    }

    /// 0-based line ranges of the entries whose `retires_at` is at or before `now`: from an
    /// entry's `-` line to the line before the next entry, or for the last entry, to the
    /// line before the next one indented no deeper than its `-`.
    private static func expiredRanges(configuration: ProxyConfiguration, elements: [ConfigValue], lines: [String],
                                      now: Int64) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        for (index, secret) in configuration.secrets.enumerated() where index < elements.count {
            guard let retiresAt = secret.retiresAtMilliseconds, retiresAt <= now else { continue }
            let start = elements[index].line - 1
            guard start >= 0, start < lines.count else { continue }
            var end: Int
            if index + 1 < elements.count {
                end = elements[index + 1].line - 1
            } else {
                let dashColumn = lines[start].utf8.prefix { $0 == UInt8(ascii: " ") }.count
                end = start + 1
                while end < lines.count {
                    let line = lines[end].utf8
                    let indentation = line.prefix { $0 == UInt8(ascii: " ") }.count
                    let blank = indentation == line.count
                    if !blank && indentation <= dashColumn { break }
                    end += 1
                }
                // Trailing blank lines and comments stay with what follows.
                while end > start + 1, lines[end - 1].allSatisfy({ $0 == " " }) { end -= 1 }
            }
            if end > start { ranges.append(start..<end) }
        }
        return ranges
    }
}
