@testable import Auditor
import ConfigFile
import EventLog
import Foundation
import Testing

@Suite struct RuleLoadingTests {
    static let invalidFixtures: [String] = {
        guard let directory = try? TestFiles.resource("Fixtures/invalid-rules"),
              let names = try? TestFiles.contents(of: directory) else { return [] }
        return names.filter { $0.hasSuffix(".yaml") }
    }()

    /// Each fixture's first line is `# error: LINE: KEY: MESSAGE`, the error it must produce.
    @Test(arguments: invalidFixtures)
    func invalidRuleIsRejectedWithItsLocation(name: String) throws {
        let path = try TestFiles.resource("Fixtures/invalid-rules/\(name)")
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let firstLine = try #require(text.split(separator: "\n").first)
        let expected = try #require(firstLine.split(separator: "# error: ", maxSplits: 1).first.map(String.init))
        #expect {
            _ = try Rule.load(path: path)
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            let actual = error.description
            let matches = actual == "\(path):\(expected)"
            if !matches { print("\(name): got \(actual)") }
            return matches
        }
    }

    @Test func invalidFixturesExist() {
        #expect(Self.invalidFixtures.count >= 10)
    }

    @Test func everyConditionForm() throws {
        let rule = try Rule.parse(yaml: """
            name: forms
            kind: trigger
            match:
              event.action: handshake.failed
              event.reason: [bad_secret, tls_digest]
              source.ip: { cidr: [203.0.113.0/24, "2001:db8::/32"], not: { equals: 203.0.113.9 } }
              source.port: { gte: 1024, lt: 65535, ne: 8080 }
              mt.secret: { present: true }
              mt.dc: { not: { in: [1, 2] } }
              labels.attempt: { gt: 1.5 }
            group_by: [source.ip]
            """, file: "forms.yaml")
        var event = Event(timestampMilliseconds: 0, action: .handshakeFailed, reason: "bad_secret", sourceIP: "203.0.113.7",
                          sourcePort: 40000, secretName: "main", dc: 4, labels: ["attempt": "2"])
        #expect(rule.matches(event))
        var other = event
        other.sourceIP = "203.0.113.9"
        #expect(!rule.matches(other))
        other = event
        other.sourceIP = "2001:db8:1::5"
        #expect(rule.matches(other))
        other.sourceIP = "198.51.100.1"
        #expect(!rule.matches(other))
        for change in [{ (e: inout Event) in e.sourcePort = 80 }, { $0.sourcePort = 8080 }, { $0.secretName = nil },
                       { $0.dc = 2 }, { $0.labels = ["attempt": "1"] }, { $0.labels = [:] }, { $0.reason = "timeout" },
                       { $0.action = .handshakeSucceeded }] {
            other = event
            change(&other)
            #expect(!rule.matches(other))
        }
        event.dc = nil
        #expect(rule.matches(event), "a negated condition holds for an absent field")
    }

    @Test func prefixConditionsAndDerivedPrefix() throws {
        let rule = try Rule.parse(yaml: """
            name: prefix
            kind: trigger
            match: { source.prefix: { cidr: [198.51.0.0/16] } }
            group_by: [source.prefix]
            """, file: "prefix.yaml")
        #expect(rule.matches(Event(timestampMilliseconds: 0, action: "x", sourcePrefix: "198.51.100.0/24")))
        #expect(!rule.matches(Event(timestampMilliseconds: 0, action: "x", sourcePrefix: "198.0.0.0/8")))
        #expect(rule.matches(Event(timestampMilliseconds: 0, action: "x", sourceIP: "198.51.7.1")))
        for (address, prefix) in [("2001:db8:1:2::1", "2001:db8:1::/48"), ("198.51.7.1", "198.51.7.0/24"),
                                  ("0.0.0.0", "0.0.0.0/24"), ("255.255.255.255", "255.255.255.0/24"),
                                  ("::ffff:192.0.2.1", "192.0.2.0/24"), ("01.2.3.4", nil), ("1.2.3.256", nil),
                                  ("1.2.3", nil), ("1.2.3.4.5", nil), ("1..3.4", nil), ("1.2.3.", nil), ("junk", nil)] {
            #expect(EventField.sourcePrefix.text(of: Event(timestampMilliseconds: 0, action: "x", sourceIP: address)) == prefix, "\(address)")
        }
    }

    @Test func banDefaultsAndEscalation() throws {
        let rule = try Rule.parse(yaml: """
            name: ban
            kind: trigger
            group_by: [mt.secret, source.ip]
            ban: { duration: 10m, factor: 3, maximum: 2h }
            """, file: "ban.yaml")
        let policy = try #require(rule.ban)
        #expect(policy.target == .sourceIP)
        #expect((0..<4).map { policy.duration(earlierBans: $0) } == [600_000, 1_800_000, 5_400_000, 7_200_000])
        #expect(policy.duration(earlierBans: 10_000) == 7_200_000)
    }

    @Test func shippedRulesAllLoad() throws {
        let rules = try RuleDirectory.load(path: TestFiles.shippedRules)
        #expect(rules.count >= 10)
        let kinds = Set(rules.map(\.kind.name))
        #expect(kinds == ["threshold", "leaky", "distinct", "trigger", "anomaly"])
    }

    @Test func aDirectoryWithABadFileIsRejectedWhole() throws {
        let directory = NSTemporaryDirectory() + "rules-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "name: good\nkind: trigger\ngroup_by: [source.ip]\n".write(toFile: directory + "/a.yaml", atomically: true, encoding: .utf8)
        try "name: good\nkind: trigger\ngroup_by: [source.ip]\n".write(toFile: directory + "/b.yaml", atomically: true, encoding: .utf8)
        try "name: bad\nkind: trigger\ngroup_by: [source.ip]\nextra: 1\n".write(toFile: directory + "/c.yml", atomically: true, encoding: .utf8)
        #expect {
            _ = try RuleDirectory.load(path: directory)
        } throws: { error in
            guard case AuditorError.rules(let errors) = error else { return false }
            return errors.count == 2 && errors[0].description.contains("b.yaml: name: rule \"good\" is also defined in")
                && errors[1].description.contains("c.yml:4: extra: unknown key")
        }
        #expect(throws: AuditorError.self) { try RuleDirectory.load(path: directory + "/missing") }
    }
}
