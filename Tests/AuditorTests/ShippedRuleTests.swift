import Auditor
import EventLog
import Foundation
import Testing

/// Every shipped rule comes with events that must fire it and events that must not
/// (`rules/samples/NAME/fire.jsonl`, `quiet.jsonl`), each replayed with that rule alone.
@Suite struct ShippedRuleTests {
    static let rules: [Rule] = (try? RuleDirectory.load(path: TestFiles.shippedRules)) ?? []

    static func samples(_ rule: Rule, _ name: String) -> String {
        "\(TestFiles.shippedRules)/samples/\(rule.name)/\(name).jsonl"
    }

    @Test func rulesAreShipped() {
        #expect(Self.rules.count >= 10)
    }

    @Test(arguments: rules)
    func firesOnItsSamples(rule: Rule) throws {
        let path = Self.samples(rule, "fire")
        #expect(FileManager.default.fileExists(atPath: path))
        let result = try replay(RuleEngine(rules: [rule]), paths: [path])
        #expect(result.malformed.isEmpty)
        #expect(result.summary.alerts >= 1)
        if rule.ban != nil { #expect(result.summary.decisions >= 1) }
    }

    @Test(arguments: rules)
    func staysQuietOnItsNearMisses(rule: Rule) throws {
        let path = Self.samples(rule, "quiet")
        #expect(FileManager.default.fileExists(atPath: path))
        let result = try replay(RuleEngine(rules: [rule]), paths: [path])
        #expect(result.malformed.isEmpty)
        #expect(result.summary.events >= 5)
        #expect(result.summary.alerts == 0, "\(result.lines.first ?? "")")
    }

    /// Replay keeps, for each action's lines, only the fields of the rules that can match
    /// that action: none for lines no shipped rule counts, the address fields for failures.
    @Test func fieldsNeededByActionAreThoseOfTheRulesThatMatchIt() {
        let engine = RuleEngine(rules: Self.rules)
        let byAction = engine.neededFieldsByAction
        #expect(byAction[.sessionClosed] == [])
        #expect(byAction[.handshakeSucceeded] == [])
        #expect(byAction[.connectionAccepted] == [.sourceIP, .sourceIPHash])
        #expect(byAction[.handshakeFailed] == [.reason, .sourceIP, .sourcePrefix])
        for fields in byAction.values { #expect(engine.neededFields.isSuperset(of: fields)) }
        engine.keepEvidence()
        #expect(engine.neededFieldsByAction.isEmpty, "reports show whole events")
    }
}
