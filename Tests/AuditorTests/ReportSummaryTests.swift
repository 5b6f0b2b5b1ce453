@testable import Auditor
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

    // MARK: The state store

    /// A real state store in a temporary directory: bans by rules over two days, a manual one,
    /// one lifted by an operator, one made before the period and still in force.
    static func prepareStore(in directory: String) async throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/auditor.sqlite"
        let store = try await DecisionStore.open(path: path)
        do {
            try await store.record([
                ban("198.51.100.20", "failures", at: now - 30 * hour),
                Decision(value: "198.51.100.21", scope: .ip, rule: "failures", reason: "long ban", created: now - 30 * hour,
                         until: now + 10 * hour, repeatCount: 3),
                ban("203.0.113.7", "failures", at: now - 3 * hour, repeatCount: 2),
                Decision(value: "203.0.113.0/24", scope: .cidr, rule: "probing-prefix", reason: "12 addresses", created: now - 2 * hour,
                         until: now + hour, repeatCount: 1),
                ban("192.0.2.77", "flood", at: now - 26 * hour),
                ban("198.51.100.30", "future", at: now + hour),
            ])
            _ = try await store.banManually("192.0.2.50", durationMilliseconds: 2 * hour, reason: "seen scanning", allowlist: [],
                                            at: now - hour)
            _ = try await store.lift("192.0.2.77", at: now - 25 * hour - hour / 2)
            _ = try await store.banManually("192.0.2.88", durationMilliseconds: 2 * hour, reason: "lifted later", allowlist: [],
                                            at: now - 4 * hour)
            _ = try await store.lift("192.0.2.88", at: now - 4 * hour + hour / 4)
        } catch {
            await store.close()
            throw error
        }
        await store.close()
        return path
    }

    @Test func bansComeFromTheStateStoreWithinThePeriod() async throws {
        let directory = NSTemporaryDirectory() + "summary-state-\(UUID())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = try await Self.prepareStore(in: directory)
        var summary = ReportSummary(since: Self.now - 24 * Self.hour, now: Self.now)
        try await summary.merge(state: path)
        #expect(summary.bans.map(\.value) == ["198.51.100.21", "192.0.2.88", "203.0.113.7", "203.0.113.0/24", "192.0.2.50"],
                "in force during the period, made in it or before; not over before it, not made after it")
        let manual = try #require(summary.bans.first { $0.value == "192.0.2.50" })
        #expect((manual.origin, manual.rule, manual.reason, manual.ended) == ("manual", "manual", "seen scanning", nil))
        let lifted = try #require(summary.bans.first { $0.value == "192.0.2.88" })
        #expect(lifted.ended == Self.now - 4 * Self.hour + Self.hour / 4)
        #expect(summary.rules.map(\.rule).sorted() == ["failures", "manual", "probing-prefix"])
        #expect(summary.rules.first { $0.rule == "failures" }?.bans == 2)

        let text = summary.text
        #expect(text.contains("0 alerts, 0 rules fired, 5 bans"), "\(text)")
        #expect(text.contains("192.0.2.50 (ip) by an operator until"), "\(text)")
        #expect(text.contains("192.0.2.88 (ip) by an operator until") && text.contains(", lifted "), "\(text)")
        #expect(text.contains("203.0.113.0/24 (cidr) by probing-prefix until"), "\(text)")
        #expect(text.contains("  192.0.2.88: 0 alerts, 0 events, banned until") && text.contains("(over), 1 ban"), "\(text)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(summary.json.utf8)) as? [String: Any])
        let bans = try #require(object["bans"] as? [[String: Any]])
        #expect(bans.count == 5)
        #expect(bans.first { $0["value"] as? String == "192.0.2.50" }?["origin"] as? String == "manual")
        #expect(bans.first { $0["value"] as? String == "192.0.2.88" }?["ended"] is String)
    }

    @Test func theStoreAndTheReportsAreOneSummary() async throws {
        let directory = try Self.prepare()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = try await Self.prepareStore(in: directory + "/state")
        var summary = try ReportSummary.load(directory: directory, since: Self.now - 24 * Self.hour, now: Self.now)
        try await summary.merge(state: path)
        #expect(summary.bans.filter { $0.value == "203.0.113.7" }.count == 1, "the report's ban and the store's are one")
        #expect(summary.bans.count == 5)
        let offender = try #require(summary.offenders().first)
        #expect((offender.value, offender.alerts, offender.bans) == ("203.0.113.7", 2, 1))
        #expect(summary.offenders(limit: 20).contains { $0.value == "203.0.113.0/24" && $0.bans == 1 })
    }

    @Test func aMissingOrForeignStoreIsRefusedByName() async throws {
        let directory = NSTemporaryDirectory() + "summary-bad-\(UUID())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var summary = ReportSummary(since: Self.now - Self.hour, now: Self.now)

        let missing = directory + "/nothing.sqlite"
        let absent = await #expect(throws: AuditorError.self) { try await summary.merge(state: missing) }
        #expect(absent?.description.hasPrefix(missing + ": ") == true && absent?.description.contains("state store: no such file") == true,
                "\(absent?.description ?? "")")
        #expect(!FileManager.default.fileExists(atPath: missing), "a report never creates a store")

        let junk = directory + "/junk.sqlite"
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: junk))
        let corrupt = await #expect(throws: AuditorError.self) { try await summary.merge(state: junk) }
        #expect(corrupt?.description.hasPrefix(junk + ": ") == true && corrupt?.description.contains("not an SQLite database") == true,
                "\(corrupt?.description ?? "")")

        let foreign = await #expect(throws: AuditorError.self) { try await summary.merge(state: directory) }
        #expect(foreign?.description.contains("a directory") == true)
        #expect(summary.bans.isEmpty)
    }

    /// The command: `mtauditor report --state F`, and `--config F` naming the store and the reports.
    @Test func theReportCommandReadsTheStore() async throws {
        let binary = TestFiles.packageRoot + "/.build/debug/mtauditor"
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build the mtauditor product first")
        let directory = NSTemporaryDirectory() + "summary-command-\(UUID())"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let state = directory + "/auditor.sqlite"
        let time = Event.nowMilliseconds()
        let store = try await DecisionStore.open(path: state)
        try await store.record([Self.ban("203.0.113.9", "failures", at: time - Self.hour),
                                Self.ban("203.0.113.10", "failures", at: time - 3 * Self.hour)])
        _ = try await store.banManually("192.0.2.60", durationMilliseconds: Self.hour, reason: "by hand", allowlist: [], at: time - 1000)
        await store.close()

        let direct = try await ChildProcess.runOffloaded([binary, "report", "--since", "2h", "--state", state, "--json"],
                                                         timeout: .seconds(120))
        try #require(direct.succeeded, "\(direct.failure)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(direct.output)) as? [String: Any])
        let bans = try #require(object["bans"] as? [[String: Any]])
        #expect(bans.compactMap { $0["value"] as? String } == ["203.0.113.9", "192.0.2.60"])
        #expect(bans.last?["origin"] as? String == "manual")

        try """
            sources: [\(directory)/events.jsonl]
            rules: \(TestFiles.shippedRules)
            state: \(state)
            reports: \(directory)/reports
            """.write(toFile: directory + "/mtauditor.yaml", atomically: true, encoding: .utf8)
        let configured = try await ChildProcess.runOffloaded([binary, "report", "--config", directory + "/mtauditor.yaml"],
                                                             timeout: .seconds(120))
        try #require(configured.succeeded, "\(configured.failure)")
        let text = String(decoding: configured.output, as: UTF8.self)
        #expect(text.contains("0 alerts, 0 rules fired, 3 bans"), "\(text)")
        #expect(text.contains("192.0.2.60 (ip) by an operator until"), "\(text)")

        let missing = try await ChildProcess.runOffloaded([binary, "report", "--state", directory + "/gone.sqlite"], timeout: .seconds(120))
        #expect(missing.exitStatus == 1)
        #expect(missing.errorOutput.contains(directory + "/gone.sqlite: state store: no such file"), "\(missing.errorOutput)")
    }
}
