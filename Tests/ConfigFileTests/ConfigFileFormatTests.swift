import Foundation
import Testing
import ConfigFile

@Suite struct ConfigFileFormatTests {
    /// The smallest configuration: two independent sections with defaults.
    struct Sample: ConfigFileFormat, Equatable {
        static let keys: Set<String> = ["name", "count"]
        var name = "default"
        var count = 1

        static func decodeSections(of root: ConfigMapping, into configuration: inout Sample, errors: inout ConfigErrors) {
            errors.collect { () throws(ConfigError) in
                try root.decode("name", into: &configuration.name) { v throws(ConfigError) in try v.string() }
            }
            errors.collect { () throws(ConfigError) in
                try root.decode("count", into: &configuration.count) { v throws(ConfigError) in try v.int(in: 1...9) }
            }
        }
    }

    @Test func decodesWithDefaults() throws {
        #expect(try Sample.decode(yaml: "count: 3\n", file: "s.yaml") == Sample(name: "default", count: 3))
        #expect(try Sample.decode(yaml: "", file: "s.yaml") == Sample())
    }

    @Test func anUnknownRootKeyNamesFileLineAndKey() {
        #expect(throws: ConfigError.self) { try Sample.decode(yaml: "name: a\ncolour: red\n", file: "s.yaml") }
        do {
            _ = try Sample.decode(yaml: "name: a\ncolour: red\n", file: "s.yaml")
        } catch {
            #expect(error.file == "s.yaml")
            #expect(error.line == 2)
            #expect(error.description.hasPrefix("s.yaml:2: colour: unknown key"))
        }
    }

    @Test func everyIndependentProblemIsListedInFileOrder() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ConfigFileFormatTests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("s.yaml").path
        try "count: 99\nname: [a]\n".write(toFile: path, atomically: true, encoding: .utf8)

        let problems = Sample.problems(path: path)
        #expect(problems.map(\.line) == [1, 2])
        #expect(problems.map(\.key) == ["count", "name"])
        // Loading stops at the first, in file order; the other sections keep their defaults.
        #expect(throws: ConfigError.self) { try Sample.load(path: path) }
        let (partial, errors) = Sample.decode(try ConfigDocument.load(path: path))
        #expect(partial == Sample())
        #expect(errors.all.count == 2)

        try "name: b\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try Sample.load(path: path) == Sample(name: "b", count: 1))
        #expect(Sample.problems(path: path).isEmpty)
    }

    @Test func aMissingFileIsOneProblem() {
        let problems = Sample.problems(path: "/nonexistent/mtshield-\(UUID().uuidString).yaml")
        #expect(problems.count == 1)
    }
}
