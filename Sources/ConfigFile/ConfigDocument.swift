#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Yams

/// A YAML configuration or rule file, composed into nodes that remember their line.
///
/// Decoding is strict: callers read mappings with a declared set of keys
/// (`ConfigValue.mapping(keys:)`), and every problem becomes a `ConfigError` naming the
/// file, the line and the key path.
public enum ConfigDocument {
    /// Larger files are refused before parsing: no configuration or rule file is this big.
    public static let maximumFileBytes = 4 << 20
    /// Nesting deeper than this is refused before parsing; the YAML composer recurses.
    static let maximumNesting = 64
    /// Flow nesting plus indentation columns allowed on one line.
    static let maximumIndentation = 512

    /// Reads and composes the file at `path`. An empty file is an empty mapping.
    public static func load(path: String) throws(ConfigError) -> ConfigValue {
        let text = try readText(path: path)
        return try parse(yaml: text, file: path)
    }

    /// Composes `yaml`, naming `file` in every error.
    public static func parse(yaml: String, file: String) throws(ConfigError) -> ConfigValue {
        if yaml.utf8.count > maximumFileBytes {
            throw ConfigError(file: file, message: "file is larger than \(maximumFileBytes) bytes")
        }
        try checkNesting(yaml, file: file)
        let node: Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch let error as YamlError {
            throw configError(from: error, file: file)
        } catch {
            throw ConfigError(file: file, message: "not valid YAML")
        }
        return ConfigValue(node: node, file: file, keyPath: "", line: node?.mark?.line ?? 1,
                           budget: ConfigValue.Budget())
    }

    /// The file's bytes as UTF-8 text, with the reason when it cannot be read.
    public static func readText(path: String, maximumBytes: Int = maximumFileBytes) throws(ConfigError) -> String {
        let bytes = try readBytes(path: path, maximumBytes: maximumBytes)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigError(file: path, message: "not UTF-8 text")
        }
        return text
    }

    /// The file's bytes, with the reason when it cannot be read.
    public static func readBytes(path: String, maximumBytes: Int) throws(ConfigError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            throw ConfigError(file: path, message: "cannot open: \(systemError())")
        }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw ConfigError(file: path, message: "cannot read: \(systemError())")
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > maximumBytes {
                throw ConfigError(file: path, message: "file is larger than \(maximumBytes) bytes")
            }
        }
        return bytes
    }

    private static func systemError() -> String {
        String(cString: strerror(errno))
    }

    /// Rejects documents that would nest deeper than the composer can safely recurse.
    /// The bound is conservative: brackets inside quoted text count too.
    private static func checkNesting(_ yaml: String, file: String) throws(ConfigError) {
        var flowDepth = 0
        var line = 1
        var atLineStart = true
        var indentation = 0
        var dashes = 0
        var inComment = false
        var previous: UInt8 = UInt8(ascii: "\n")
        for byte in yaml.utf8 {
            defer { previous = byte }
            if byte == UInt8(ascii: "\n") {
                line += 1
                atLineStart = true
                indentation = 0
                dashes = 0
                inComment = false
                continue
            }
            if inComment { continue }
            if atLineStart {
                if byte == UInt8(ascii: " ") {
                    indentation += 1
                } else if byte == UInt8(ascii: "-") {
                    dashes += 1
                    indentation += 1
                } else {
                    atLineStart = false
                }
                if dashes > maximumNesting || indentation > maximumIndentation {
                    throw ConfigError(file: file, line: line, message: "nesting is too deep (at most \(maximumNesting) levels)")
                }
                if atLineStart { continue }
            }
            switch byte {
            case UInt8(ascii: "#") where previous == UInt8(ascii: " ") || previous == UInt8(ascii: "\t") || previous == UInt8(ascii: "\n"):
                inComment = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                flowDepth += 1
                if flowDepth > maximumNesting {
                    throw ConfigError(file: file, line: line, message: "nesting is too deep (at most \(maximumNesting) levels)")
                }
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                flowDepth = max(0, flowDepth - 1)
            default:
                break
            }
        }
    }

    private static func configError(from error: YamlError, file: String) -> ConfigError {
        switch error {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let detail = context.map { "\($0.text) " } ?? ""
            return ConfigError(file: file, line: mark.line, message: "not valid YAML: \(detail)\(problem)")
        case .reader(let problem, let offset, _, let yaml):
            let line = offset.map { offset in
                1 + yaml.utf8.prefix(offset).reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
            }
            return ConfigError(file: file, line: line, message: "not valid YAML: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            let names = duplicates.sorted().joined(separator: ", ")
            return ConfigError(file: file, line: context.mark.line, key: duplicates.sorted().first,
                               message: "key appears more than once in one mapping (\(names))")
        default:
            return ConfigError(file: file, message: "not valid YAML")
        }
    }
}
