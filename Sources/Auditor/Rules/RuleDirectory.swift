#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ConfigFile

/// The rule files of a directory (`rules/*.yaml`, `*.yml`), loaded all or nothing: a
/// reload that finds any error keeps the previous rules running and reports every error.
public enum RuleDirectory {
    public static func load(path: String) throws(AuditorError) -> [Rule] {
        let files = try ruleFiles(in: path)
        guard !files.isEmpty else { throw AuditorError.input(path: path, message: "no rule files (*.yaml) in the directory") }
        var errors = ConfigErrors()
        var rules: [Rule] = []
        var names: [String: String] = [:]
        for file in files {
            errors.collect { () throws(ConfigError) in
                let rule = try Rule.load(path: file)
                if let other = names[rule.name] {
                    throw ConfigError(file: file, line: nil, key: "name", message: "rule \(ConfigText.quoted(rule.name)) is also defined in \(other)")
                }
                names[rule.name] = file
                rules.append(rule)
            }
        }
        guard errors.isEmpty else { throw AuditorError.rules(errors.all) }
        return rules
    }

    /// The rule files directly inside `path`, sorted by name; hidden files are skipped.
    public static func ruleFiles(in path: String) throws(AuditorError) -> [String] {
        guard let directory = opendir(path) else {
            throw AuditorError.input(path: path, message: "cannot open the rule directory: \(String(cString: strerror(errno)))")
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard !name.hasPrefix("."), name.hasSuffix(".yaml") || name.hasSuffix(".yml") else { continue }
            names.append(name)
        }
        let base = path.hasSuffix("/") ? path : path + "/"
        return names.sorted().map { base + $0 }
    }
}
