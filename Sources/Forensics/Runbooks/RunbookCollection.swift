import ConfigFile
#if canImport(Glibc)
import Glibc
#endif

/// The runbooks of a folder (`*.yaml`), each loaded strictly; a file that does not load
/// is listed with its error and the others stay usable.
public struct RunbookCollection: Sendable {
    public var directory: String
    public var runbooks: [Runbook]
    public var errors: [ConfigError]

    public static func load(directory: String) throws(ForensicsError) -> RunbookCollection {
        guard let folder = opendir(directory) else { throw .lastIO(directory, "open the runbooks folder") }
        var names: [String] = []
        while let item = readdir(folder) {
            let name = withUnsafePointer(to: item.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if (name.hasSuffix(".yaml") || name.hasSuffix(".yml")) && !name.hasPrefix(".") { names.append(name) }
        }
        closedir(folder)
        var runbooks: [Runbook] = []
        var errors: [ConfigError] = []
        var seen: [String: String] = [:]
        for name in names.sorted() {
            let path = directory + "/" + name
            do {
                let runbook = try Runbook.load(path: path)
                if let other = seen[runbook.id] {
                    errors.append(ConfigError(file: path, line: 1, key: "id", message: "runbook id \(runbook.id) is also used by \(other)"))
                    continue
                }
                seen[runbook.id] = path
                runbooks.append(runbook)
            } catch {
                errors.append(error)
            }
        }
        return RunbookCollection(directory: directory, runbooks: runbooks, errors: errors)
    }

    /// A runbook by id, or by path when `name` names a file.
    public static func find(_ name: String, in directory: String) throws(ForensicsError) -> Runbook {
        if name.contains("/") || name.hasSuffix(".yaml") || name.hasSuffix(".yml") {
            do { return try Runbook.load(path: name) } catch { throw .configuration(error) }
        }
        let collection = try load(directory: directory)
        if let runbook = collection.runbooks.first(where: { $0.id == name }) { return runbook }
        if let broken = collection.errors.first(where: { $0.file.hasSuffix("/" + name + ".yaml") }) {
            throw .configuration(broken)
        }
        let known = collection.runbooks.map(\.id)
        var message = "no runbook \(name) in \(directory)"
        if let near = ConfigText.nearest(to: name, among: known) { message += " (did you mean \(near)?)" }
        throw .usage(message + "; known: " + known.joined(separator: ", "))
    }
}
