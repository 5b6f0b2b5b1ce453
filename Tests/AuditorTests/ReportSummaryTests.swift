import Auditor
import EventLog
import Foundation
import Testing

@Suite struct ReportSummaryTests {
    static let hour: Int64 = 3_600_000
    static let now: Int64 = 1_780_000_000_000

    static func alert(_ rule: String, _ kind: String, at time: Int64, ip: String?) -> Alert {
        Alert(rule: rule, kind: kind, time: time, group: ip.map { [GroupValue(field: "source.ip", value: $0)] } ?? [],
              overflow: ip == nil ? nil : Overflow(count: 5, first: time - 1000, last: time), anomaly: nil, message: "")
    }

    static func ban(_ ip: String, _ rule: String, at time: Int64, repeatCount: Int = 1) -> Decision {
        Decision(value: ip, scope: .ip, rule: rule, reason: "5 events in 1m", created: time, until: time + hour,
                 repeatCount: repeatCount)
    }

    /// A directory of reports over two days, a file that is not JSON and one that is not a report.
    static func prepare() throws -> String {
        let directory = NSTemporaryDirectory() + "summary-\(UInt64.random(in: 0...UInt64.max))"
        let writer = AlertReportWriter(directory: directory)
        let sources = [AlertEvidence.SourceCount(source: "203.0.113.7", events: 5)]
        func write(_ alert: Alert, _ decision: Decision? = nil, sources: [AlertEvidence.SourceCount] = sources) throws {
            try writer.write(alert: alert, context: AlertEvidence(ruleLimit: "5 in 1m", unit: "events in window",
                                                                  series: [], limit: 5, topSources: sources, decision: decision))
        }
        try write(alert("failures", "threshold", at: now - 30 * hour, ip: "203.0.113.7"), ban("203.0.113.7", "failures", at: now - 30 * hour))
        try write(alert("failures", "threshold", at: now - 3 * hour, ip: "203.0.113.7"), ban("203.0.113.7", "failures", at: now - 3 * hour, repeatCount: 2))
        try write(alert("failures", "threshold", at: now - 2 * hour, ip: "198.51.100.4"),
                  sources: [AlertEvidence.SourceCount(source: "198.51.100.4", events: 7)])
        try write(alert("probing", "threshold", at: now - 1 * hour, ip: "203.0.113.7"))
        try write(alert("failure-rate", "anomaly", at: now - hour / 2, ip: nil),
                  sources: [AlertEvidence.SourceCount(source: "203.0.113.7", events: 40), AlertEvidence.SourceCount(source: "192.0.2.1", events: 2)])
        try "{not json".write(toFile: directory + "/20260528T200000.000Z-broken-00000000.json", atomically: true, encoding: .utf8)
        try #"{"schema":"something-else","version":1}"#.write(toFile: directory + "/20260528T200001.000Z-other-00000000.json", atomically: true, encoding: .utf8)
        return directory
    }

    @Test func summarizesThePeriodFromTheReportsDirectory() throws {
        let directory = try Self.prepare()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let summary = try ReportSummary.load(directory: directory, since: Self.now - ReportSummary.period("24h"), now: Self.now)
        #expect(summary.alerts.map(\.report.rule) == ["failures", "failures", "probing", "failure-rate"])
        #expect(summary.alerts.allSatisfy { $0.path.hasPrefix(directory + "/") && $0.path.hasSuffix(".json") })
        #expect(summary.bans.map(\.repeatCount) == [2], "the ban of 30 hours ago is outside the period")
        #expect(summary.rules.map(\.rule) == ["failures", "failure-rate", "probing"])
        let first = try #require(summary.rules.first)
        #expect((first.rule, first.kind, first.alerts, first.bans) == ("failures", "threshold", 2, 1))
        let offenders = summary.offenders()
        #expect(offenders.first?.value == "203.0.113.7")
        #expect(offenders.first?.alerts == 2)
        #expect(offenders.first?.events == 5 + 5 + 40)
        #expect(offenders.first?.bannedUntil == Self.now - 2 * Self.hour)
        #expect(offenders.dropFirst().first?.value == "198.51.100.4")
        #expect(offenders.last?.value == "192.0.2.1")
        #expect(summary.unreadable.count == 2)
        #expect(summary.unreadable.contains { $0.contains("broken") && $0.contains("not JSON") })
        #expect(summary.unreadable.contains { $0.contains("not an alert report") })

        let text = summary.text
        #expect(text.contains("4 alerts, 3 rules fired, 1 bans"))
        #expect(text.contains("  failures (threshold): 2 alerts, 1 bans"))
        #expect(text.contains("  203.0.113.7: 2 alerts, 50 events, banned until"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(summary.json.utf8)) as? [String: Any])
        #expect((object["alerts"] as? [Any])?.count == 4)
        #expect((object["bans"] as? [Any])?.count == 1)
        #expect(((object["top_offenders"] as? [[String: Any]])?.first)?["value"] as? String == "203.0.113.7")
        #expect((object["counts"] as? [String: Any])?["unreadable"] as? Int == 2)
    }

    @Test func bansFromTheStoreAreMergedWithoutDoubles() throws {
        let directory = try Self.prepare()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var summary = try ReportSummary.load(directory: directory, since: Self.now - 24 * Self.hour, now: Self.now)
        summary.merge(bans: [ReportSummary.Ban(Self.ban("203.0.113.7", "failures", at: Self.now - 3 * Self.hour, repeatCount: 2)),
                             ReportSummary.Ban(Self.ban("192.0.2.50", "manual", at: Self.now - Self.hour)),
                             ReportSummary.Ban(Self.ban("192.0.2.51", "manual", at: Self.now - 48 * Self.hour))])
        #expect(summary.bans.map(\.value) == ["203.0.113.7", "192.0.2.50"])
    }

    @Test func aShortPeriodAndAMissingDirectory() throws {
        let directory = try Self.prepare()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let summary = try ReportSummary.load(directory: directory, since: Self.now - ReportSummary.period("45m"), now: Self.now)
        #expect(summary.alerts.map(\.report.rule) == ["failure-rate"])
        #expect(summary.text.contains("Bans:\n  none"))
        #expect(throws: AuditorError.self) { try ReportSummary.load(directory: directory + "/missing", since: 0, now: Self.now) }
        #expect(throws: AuditorError.self) { try ReportSummary.period("yesterday") }
        #expect(try ReportSummary.period("7d") == 7 * 24 * Self.hour)
    }
}
