import ConfigFile

/// Which artifacts a snapshot takes: data, read from YAML (`forensics/artifacts.yaml`
/// is the shipped default, `ArtifactCatalog.shippedText` the same text built in).
public struct ArtifactCatalog: Sendable, Equatable {
    public var artifacts: [ArtifactSpec]

    public init(artifacts: [ArtifactSpec]) {
        self.artifacts = artifacts
    }

    /// Reads an artifact list strictly: unknown keys, a kind's missing key, a duplicate
    /// name or archive path, and an unsafe archive path are errors naming file, line and key.
    public static func parse(yaml: String, file: String) throws(ConfigError) -> ArtifactCatalog {
        let root = try ConfigDocument.parse(yaml: yaml, file: file).mapping(keys: ["artifacts"])
        let specs = try root.required("artifacts").list { (value) throws(ConfigError) in try ArtifactSpec(value) }
        var names = Set<String>()
        var paths = Set<String>()
        for (index, spec) in specs.enumerated() {
            guard names.insert(spec.name).inserted else {
                throw ConfigError(file: file, key: "artifacts[\(index)].name", message: "name \(spec.name) is used twice")
            }
            guard paths.insert(spec.archivePath).inserted else {
                throw ConfigError(file: file, key: "artifacts[\(index)].to", message: "archive path \(spec.archivePath) is used twice")
            }
        }
        return ArtifactCatalog(artifacts: specs)
    }

    public static func load(path: String) throws(ConfigError) -> ArtifactCatalog {
        try parse(yaml: ConfigDocument.readText(path: path), file: path)
    }

    /// The built-in list (the text of `forensics/artifacts.yaml`).
    public static func shipped() -> ArtifactCatalog {
        do {
            return try parse(yaml: shippedText, file: "forensics/artifacts.yaml")
        } catch {
            preconditionFailure("the shipped artifact list is checked by a test: \(error)")
        }
    }
}

/// One artifact: where it comes from, and where its content goes in the archive.
public struct ArtifactSpec: Sendable, Equatable {
    public enum ConfigRole: String, Sendable, Equatable, CaseIterable {
        case proxy, auditor
    }

    /// A key in one of the configurations whose value is a path: `proxy:events.path`.
    public struct ConfigReference: Sendable, Equatable, CustomStringConvertible {
        public var role: ConfigRole
        public var keyPath: [String]

        public init?(_ text: String) {
            let parts = text.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, let role = ConfigRole(rawValue: String(parts[0])) else { return nil }
            let keys = parts[1].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
            guard !keys.isEmpty, keys.allSatisfy({ !$0.isEmpty }) else { return nil }
            self.role = role
            self.keyPath = keys
        }

        public var description: String { "\(role.rawValue):\(keyPath.joined(separator: "."))" }
    }

    public enum PathSource: Sendable, Equatable {
        case literal(String)
        case reference(ConfigReference)
    }

    public enum Source: Sendable, Equatable {
        /// The configuration file itself, every secret replaced by its fingerprint.
        case configuration(ConfigRole)
        /// Event lines whose `@timestamp` falls within the time window.
        case events(PathSource)
        case file(PathSource)
        /// Regular files under a directory; with `windowOnly`, those modified within the window.
        case directory(PathSource, windowOnly: Bool)
        /// A command's standard output; its own timeout or the snapshot's.
        case command([String], timeout: Duration?)
    }

    public var name: String
    public var archivePath: String
    public var source: Source

    public init(name: String, archivePath: String, source: Source) {
        self.name = name
        self.archivePath = archivePath
        self.source = source
    }

    public var kind: String {
        switch source {
        case .configuration: "config"
        case .events: "events"
        case .file: "file"
        case .directory: "directory"
        case .command: "command"
        }
    }

    private static let kinds = ["config", "events", "file", "directory", "command"]

    init(_ value: ConfigValue) throws(ConfigError) {
        let keys: Set<String> = ["name", "kind", "to", "config", "from", "path", "window", "run", "timeout"]
        let fields = try value.mapping(keys: keys)
        name = try fields.required("name").string(expected: "a name of lower-case letters, digits and dashes") { text in
            !text.isEmpty && text.utf8.count <= 64 && text.utf8.allSatisfy {
                (97...122).contains($0) || (48...57).contains($0) || $0 == UInt8(ascii: "-")
            }
        }
        let kindValue = try fields.required("kind")
        let kind = try kindValue.string(expected: "one of \(Self.kinds.joined(separator: ", "))") { Self.kinds.contains($0) }
        let allowed: Set<String>
        switch kind {
        case "config": allowed = ["config"]
        case "events", "file": allowed = ["from", "path"]
        case "directory": allowed = ["from", "path", "window"]
        default: allowed = ["run", "timeout"]
        }
        for key in ["config", "from", "path", "window", "run", "timeout"] where fields.contains(key) && !allowed.contains(key) {
            throw fields.value.error("key \(key) does not apply to an artifact of kind \(kind)")
        }

        func pathSource() throws(ConfigError) -> PathSource {
            switch (fields["from"], fields["path"]) {
            case (let from?, nil):
                let text = try from.string()
                guard let reference = ConfigReference(text) else {
                    throw from.error("expected proxy:KEY.PATH or auditor:KEY.PATH, found \(ConfigText.quoted(text))")
                }
                return .reference(reference)
            case (nil, let path?):
                return .literal(try path.string(expected: "an absolute path") { $0.hasPrefix("/") })
            default:
                throw fields.value.error("an artifact of kind \(kind) needs exactly one of from and path")
            }
        }

        switch kind {
        case "config":
            source = .configuration(try fields.required("config").enum(ConfigRole.self))
        case "events":
            source = .events(try pathSource())
        case "file":
            source = .file(try pathSource())
        case "directory":
            source = .directory(try pathSource(), windowOnly: try fields.optional("window") { (v) throws(ConfigError) in try v.bool() } ?? false)
        default:
            let run = try fields.required("run")
            let argv = try run.list { (v) throws(ConfigError) in try v.string() }
            guard !argv.isEmpty else { throw run.error("expected a command and its arguments") }
            let timeout = try fields.optional("timeout") { (v) throws(ConfigError) in
                try v.duration(in: .milliseconds(1)...(.seconds(3600)))
            }
            source = .command(argv, timeout: timeout)
        }
        let defaultPath = kind == "command" ? "system/\(name).txt" : nil
        if let to = fields["to"] {
            archivePath = try to.string(expected: "a relative archive path without . or .. components") {
                ArchivePath.isSafe($0) && $0 != EvidenceManifest.fileName && $0 != CustodyRecord.fileName
            }
        } else if let defaultPath {
            archivePath = defaultPath
        } else {
            throw fields.value.error("an artifact of kind \(kind) needs to (its path in the archive)")
        }
    }
}
