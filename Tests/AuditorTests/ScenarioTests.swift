import Auditor
import ConfigFile
import Foundation
import Testing

/// Golden scenarios in the manner of crowdsec's `pkg/leakybucket/testdata`: a folder
/// with `rules/`, `events.jsonl` (fixed timestamps), `expected.jsonl`, and optionally
/// `scenario.yaml` (`allowlist`, `simulation`, `explain`), replayed in event time.
@Suite struct ScenarioTests {
    static let scenarios: [String] = {
        guard let root = try? TestFiles.resource("Scenarios") else { return [] }
        return (try? TestFiles.contents(of: root)) ?? []
    }()

    @Test func scenariosExist() {
        #expect(Self.scenarios.count >= 6)
    }

    @Test(arguments: scenarios)
    func replaysAsExpected(name: String) throws {
        let folder = try TestFiles.resource("Scenarios/\(name)")
        var allowlist: [String] = []
        var simulation = false
        var explain = false
        if FileManager.default.fileExists(atPath: folder + "/scenario.yaml") {
            let options = try ConfigDocument.load(path: folder + "/scenario.yaml").mapping(keys: ["allowlist", "simulation", "explain"])
            allowlist = try options.optional("allowlist") { value throws(ConfigError) in try value.list { item throws(ConfigError) in try item.string() } } ?? []
            simulation = try options.optional("simulation") { value throws(ConfigError) in try value.bool() } ?? false
            explain = try options.optional("explain") { value throws(ConfigError) in try value.bool() } ?? false
        }
        let engine = RuleEngine(rules: try RuleDirectory.load(path: folder + "/rules"),
                                allowlist: try DecisionBook.allowlist(allowlist), simulation: simulation, explain: explain)
        let events = folder + "/events.jsonl"
        let result = try replay(engine, paths: [events])
        let actual = result.lines.map { $0.replacingOccurrences(of: "\"\(events):", with: "\"events.jsonl:") }
        let expected = try String(contentsOfFile: folder + "/expected.jsonl", encoding: .utf8)
            .split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        #expect(!expected.isEmpty)
        #expect(actual.count == expected.count)
        for (index, (got, want)) in zip(actual, expected).enumerated() {
            #expect(got == want, "line \(index + 1)")
        }
    }
}
