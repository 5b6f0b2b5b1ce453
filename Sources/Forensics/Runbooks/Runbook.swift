import ConfigFile
import MTCrypto

/// An incident-response runbook or maintenance checklist (`runbooks/*.yaml`): ordered
/// steps that an operator walks through, each recorded in the incident's journal.
public struct Runbook: Sendable, Equatable {
    public var id: String
    public var title: String
    public var description: String
    public var version: Int
    public var steps: [RunbookStep]
    /// The file it was read from, and the SHA-256 of its bytes.
    public var path: String
    public var sha256: String

    public func step(_ id: String) -> RunbookStep? {
        steps.first { $0.id == id }
    }

    /// Reads a runbook strictly: unknown keys, a kind's missing or foreign key, a
    /// duplicate step id and an unknown `{{placeholder}}` are errors naming file, line and key.
    public static func parse(yaml: String, file: String) throws(ConfigError) -> Runbook {
        let root = try ConfigDocument.parse(yaml: yaml, file: file)
            .mapping(keys: ["id", "title", "description", "version", "steps"])
        let id = try root.required("id").string(expected: "an id of lower-case letters, digits and dashes", where: isIdentifier)
        let title = try root.required("title").string()
        let description = try root.required("description").string()
        let version = try root.required("version").int(in: 1...1_000_000)
        let stepsValue = try root.required("steps")
        let steps = try stepsValue.list { (value) throws(ConfigError) in try RunbookStep(value) }
        guard !steps.isEmpty else { throw stepsValue.error("a runbook needs at least one step") }
        var seen = Set<String>()
        for (index, step) in steps.enumerated() where !seen.insert(step.id).inserted {
            throw ConfigError(file: file, line: try stepsValue.list()[index].line, key: "steps[\(index)].id",
                              message: "step id \(step.id) is used twice")
        }
        return Runbook(id: id, title: title, description: description, version: version, steps: steps,
                       path: file, sha256: SHA256.hash(yaml.utf8).hexString)
    }

    public static func load(path: String) throws(ConfigError) -> Runbook {
        let bytes = try ConfigDocument.readBytes(path: path, maximumBytes: ConfigDocument.maximumFileBytes)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigError(file: path, message: "not UTF-8 text")
        }
        return try parse(yaml: text, file: path)
    }

    static func isIdentifier(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 64 && text.utf8.first != UInt8(ascii: "-") && text.utf8.allSatisfy {
            (97...122).contains($0) || (48...57).contains($0) || $0 == UInt8(ascii: "-")
        }
    }
}

/// One step of a runbook.
public struct RunbookStep: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        case manual, command, snapshot, check
    }

    /// What a command step runs: an argument vector, or a shell line (only with `shell: true`).
    public enum Invocation: Sendable, Equatable {
        case argv([String])
        case shell(String)
    }

    public enum Action: Sendable, Equatable {
        /// The operator does it and confirms with a note.
        case manual
        /// Runs with a timeout; output and exit status are kept as evidence.
        case command(Invocation, timeout: Duration)
        /// An evidence snapshot of the incident (`mtforensics snapshot`).
        case snapshot(since: Duration, format: ArchiveFormat, redact: Bool)
        /// Items of the deployment security checklist, by id; any failure fails the step.
        case check([String])
    }

    /// Placeholders a command may use, filled in from the incident.
    public static let placeholders = ["incident", "incident_dir", "proxy_config", "auditor_config", "evidence_dir"]
    public static let defaultCommandTimeout = Duration.seconds(60)

    public var id: String
    public var title: String
    /// What the operator should do or know, shown before the step.
    public var instructions: String?
    /// "Preserve before change": refused until a snapshot step of the incident succeeded.
    public var destructive: Bool
    /// A failure of this step is recorded but does not stop the run.
    public var continueOnFailure: Bool
    public var action: Action

    public var kind: Kind {
        switch action {
        case .manual: .manual
        case .command: .command
        case .snapshot: .snapshot
        case .check: .check
        }
    }

    init(_ value: ConfigValue) throws(ConfigError) {
        let fields = try value.mapping(keys: ["id", "title", "kind", "instructions", "destructive", "continue_on_failure",
                                              "run", "shell", "timeout", "since", "format", "redact", "checks"])
        id = try fields.required("id").string(expected: "a step id of lower-case letters, digits and dashes",
                                              where: Runbook.isIdentifier)
        title = try fields.required("title").string()
        let kind = try fields.required("kind").enum(Kind.self)
        instructions = try fields.optional("instructions") { (v) throws(ConfigError) in try v.string() }
        destructive = try fields.optional("destructive") { (v) throws(ConfigError) in try v.bool() } ?? false
        continueOnFailure = try fields.optional("continue_on_failure") { (v) throws(ConfigError) in try v.bool() } ?? false

        let specific: [Kind: Set<String>] = [
            .manual: [], .command: ["run", "shell", "timeout"], .snapshot: ["since", "format", "redact"], .check: ["checks"],
        ]
        for key in ["run", "shell", "timeout", "since", "format", "redact", "checks"]
        where fields.contains(key) && !specific[kind]!.contains(key) {
            throw fields.value.error("key \(key) does not apply to a step of kind \(kind.rawValue)")
        }
        if kind == .manual && fields.contains("continue_on_failure") {
            throw fields.value.error("key continue_on_failure does not apply to a manual step")
        }

        switch kind {
        case .manual:
            action = .manual
        case .command:
            let run = try fields.required("run")
            let shell = try fields.optional("shell") { (v) throws(ConfigError) in try v.bool() } ?? false
            let invocation: Invocation
            if run.isList {
                guard !shell else { throw run.error("with shell: true, run is one shell line, not a list") }
                let argv = try run.list { (v) throws(ConfigError) in try v.string() }
                guard !argv.isEmpty else { throw run.error("expected a command and its arguments") }
                invocation = .argv(argv)
                for (index, argument) in argv.enumerated() { try Self.checkPlaceholders(argument, at: try run.list()[index]) }
            } else {
                let line = try run.string()
                guard shell else {
                    throw run.error("a shell line needs shell: true (or give run as a list: [program, argument, …])")
                }
                invocation = .shell(line)
                try Self.checkPlaceholders(line, at: run)
            }
            let timeout = try fields.optional("timeout") { (v) throws(ConfigError) in
                try v.duration(in: .milliseconds(100)...(.seconds(3600)))
            }
            action = .command(invocation, timeout: timeout ?? Self.defaultCommandTimeout)
        case .snapshot:
            let since = try fields.optional("since") { (v) throws(ConfigError) in
                try v.duration(in: .seconds(1)...(.seconds(366 * 86_400)))
            }
            let format = try fields.optional("format") { (v) throws(ConfigError) in try v.enum(ArchiveFormat.self) }
            let redact = try fields.optional("redact") { (v) throws(ConfigError) in try v.bool() }
            action = .snapshot(since: since ?? .seconds(86_400), format: format ?? .lz4, redact: redact ?? false)
        case .check:
            let checks = try fields.required("checks")
            let ids = try checks.list { (v) throws(ConfigError) in
                try v.string(expected: "a check id of lower-case letters, digits and underscores") { text in
                    !text.isEmpty && text.utf8.count <= 64 && text.utf8.allSatisfy {
                        (97...122).contains($0) || (48...57).contains($0) || $0 == UInt8(ascii: "_")
                    }
                }
            }
            guard !ids.isEmpty else { throw checks.error("expected at least one check id") }
            action = .check(ids)
        }
    }

    /// Every `{{name}}` must be one of `placeholders`.
    static func checkPlaceholders(_ text: String, at value: ConfigValue) throws(ConfigError) {
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                throw value.error("unclosed {{ (placeholders are \(placeholders.map { "{{\($0)}}" }.joined(separator: ", ")))")
            }
            let name = String(rest[open.upperBound..<close.lowerBound])
            guard placeholders.contains(name) else {
                throw value.error("unknown placeholder {{\(name)}}; expected one of \(placeholders.map { "{{\($0)}}" }.joined(separator: ", "))")
            }
            rest = rest[close.upperBound...]
        }
    }
}
