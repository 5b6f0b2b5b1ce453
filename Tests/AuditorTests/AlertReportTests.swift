import Auditor
import EventLog
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

@Suite struct AlertReportTests {
    static func temporaryDirectory() -> String {
        NSTemporaryDirectory() + "reports-\(UInt64.random(in: 0...UInt64.max))"
    }

    static func failedHandshake(_ seconds: Int, ip: String) -> Event {
        Event(timestampMilliseconds: 1_780_000_000_000 + Int64(seconds) * 1000, action: .handshakeFailed,
              outcome: .failure, reason: "bad_secret", sourceIP: ip, secretName: "main")
    }

    /// A threshold rule with a ban over failed handshakes from 203.0.113.7 (and noise from
    /// another address); returns the findings' alerts with their evidence.
    static func thresholdRun() throws -> (engine: RuleEngine, pairs: [(alert: Alert, decision: Decision?)]) {
        let rule = try Rule.parse(yaml: """
            name: failures
            description: Five failed handshakes in a minute.
            kind: threshold
            match: { event.action: handshake.failed }
            group_by: [source.ip]
            window: 1m
            count: 5
            ban: { duration: 1h }
            """, file: "failures.yaml")
        let engine = RuleEngine(rules: [rule])
        engine.keepEvidence(samplesPerRule: 64)
        var findings: [Finding] = []
        for second in 0..<4 {
            engine.process(failedHandshake(second * 3, ip: "203.0.113.7"), into: &findings)
            engine.process(failedHandshake(second * 3 + 1, ip: "198.51.100.9"), into: &findings)
        }
        #expect(findings.isEmpty)
        engine.process(failedHandshake(20, ip: "203.0.113.7"), into: &findings)
        return (engine, Finding.alertsWithDecisions(findings))
    }

    @Test func thresholdAlertWritesThreeFilesWithEveryField() throws {
        let (engine, pairs) = try Self.thresholdRun()
        let (alert, decision) = try #require(pairs.first)
        #expect(pairs.count == 1)
        #expect(decision?.value == "203.0.113.7")
        let evidence = engine.evidence(for: alert, decision: decision)
        #expect(evidence.series.map(\.value) == [1, 2, 3, 4, 5])
        #expect(evidence.limit == 5)
        #expect(evidence.topSources == [AlertEvidence.SourceCount(source: "203.0.113.7", events: 5)])
        #expect(evidence.samples.count == 5)

        let directory = Self.temporaryDirectory() + "/nested"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let paths = try AlertReportWriter(directory: directory).write(alert: alert, context: evidence)
        #expect(paths.map { ($0 as NSString).pathExtension } == ["json", "md", "html"])
        let stem = ((paths[0] as NSString).lastPathComponent as NSString).deletingPathExtension
        #expect(stem.hasPrefix("20260528T202700.000Z-failures-"), "\(stem)")
        #expect(stem.count == "20260528T202700.000Z-failures-".count + 8)
        for path in paths {
            let mode = try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
            #expect(mode & 0o027 == 0, "\(path) has mode \(String(mode, radix: 8))")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory).allSatisfy { !$0.hasPrefix(".") })

        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: paths[0]))) as? [String: Any])
        for key in ["schema", "version", "rule", "kind", "message", "time", "time_ms", "group", "rule_limit", "overflow",
                    "chart", "top_sources", "sample_events", "decision"] {
            #expect(object[key] != nil, "missing \(key)")
        }
        #expect(object["schema"] as? String == "mtauditor.alert-report")
        #expect(object["rule"] as? String == "failures")
        let chart = try #require(object["chart"] as? [String: Any])
        #expect((chart["points"] as? [Any])?.count == 5)
        #expect(chart["limit"] as? Double == 5)
        #expect((object["decision"] as? [String: Any])?["value"] as? String == "203.0.113.7")

        let markdown = try String(contentsOfFile: paths[1], encoding: .utf8)
        #expect(markdown.contains("# Alert: failures"))
        #expect(markdown.contains("| `203.0.113.7` | 5 |"))
        #expect(markdown.contains("```json\n{\"@timestamp\""))
        #expect(!markdown.contains("198.51.100.9"), "another group's events are not this alert's samples")

        let html = try String(contentsOfFile: paths[2], encoding: .utf8)
        try Self.expectSelfContainedHTML(html)
        #expect(html.contains("203.0.113.7"))
        #expect(html.contains("<polyline class=\"series\""))
    }

    @Test func anomalyReportChartsTheIntervalsWithMeanAndLimit() throws {
        let folder = try TestFiles.resource("Scenarios/anomaly-cold-start")
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let engine = RuleEngine(rules: try RuleDirectory.load(path: folder + "/rules"))
        let summary = try Replay(engine: engine, reports: AlertReportWriter(directory: directory))
            .run(paths: [folder + "/events.jsonl"], output: { _ in }, malformed: { _ in })
        #expect(summary.alerts == 2)
        #expect(summary.reports == 2)
        let names = try TestFiles.contents(of: directory)
        #expect(names.count == 6)
        let json = try #require(names.first { $0.hasSuffix("-failure-rate-\($0.dropLast(5).suffix(8)).json") })
        let report = try JSONDecoder.reports.decode(AlertReport.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/" + json)))
        let anomaly = try #require(report.anomaly)
        #expect(anomaly.observed == 12)
        #expect(report.chart.mean == anomaly.mean)
        #expect(report.chart.limit == anomaly.limit)
        #expect(report.chart.points.count > 5)
        #expect(report.chart.points.last?.value == 12)
        #expect(report.chart.points.last?.time == anomaly.intervalStart)
        #expect(zip(report.chart.points, report.chart.points.dropFirst()).allSatisfy { $1.timeMs - $0.timeMs == 10_000 })
        #expect(report.topSources.first?.source == "203.0.113.1" || !report.topSources.isEmpty)
        let html = try String(contentsOfFile: directory + "/" + json.dropLast(5) + ".html", encoding: .utf8)
        try Self.expectSelfContainedHTML(html)
        #expect(html.contains("class=\"mean\""))
        #expect(html.contains("class=\"limit\""))
    }

    @Test func hashedPrivacyReportsCarryOnlyWhatTheEventsCarry() throws {
        let rule = try Rule.parse(yaml: """
            name: connection-flood
            kind: leaky
            match: { event.action: connection.accepted }
            group_by: [source.address]
            capacity: 3
            leak: 10s
            ban: { duration: 15m }
            """, file: "flood.yaml")
        let engine = RuleEngine(rules: [rule])
        engine.keepEvidence()
        let hash = String(repeating: "ab", count: 16)
        var findings: [Finding] = []
        for index in 0..<5 {
            let event = Event(timestampMilliseconds: 1_780_000_000_000 + Int64(index) * 100, action: .connectionAccepted,
                              sourceIPHash: hash, sourcePrefix: "100.64.3.0/24", sessionID: "00000000000000\(index)1",
                              instance: "vps1", transport: .faketls, secretName: "main")
            engine.process(event, into: &findings)
        }
        let (alert, decision) = try #require(Finding.alertsWithDecisions(findings).first)
        #expect(decision?.scope == .ipHash)
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let paths = try AlertReportWriter(directory: directory).write(alert: alert, context: engine.evidence(for: alert, decision: decision))
        for path in paths {
            let text = try String(contentsOfFile: path, encoding: .utf8)
            #expect(text.contains(hash))
            // The only dotted quad is the /24 the producer wrote; no address, no secret.
            let quads = text.matches(of: /\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(\/\d+)?/).map { String(text[$0.range]) }
            #expect(quads.allSatisfy { $0 == "100.64.3.0/24" }, "\(path): \(quads)")
            #expect(!text.contains("source.ip\""))
            #expect(!text.lowercased().contains("ee00112233"))
        }
    }

    @Test func replayWritesOneReportPerAlert() throws {
        let folder = try TestFiles.resource("Scenarios/threshold-escalation")
        let directory = Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let engine = RuleEngine(rules: try RuleDirectory.load(path: folder + "/rules"))
        var lines: [String] = []
        let summary = try Replay(engine: engine, reports: AlertReportWriter(directory: directory))
            .run(paths: [folder + "/events.jsonl"], output: { lines.append($0) }, malformed: { _ in })
        let expected = try String(contentsOfFile: folder + "/expected.jsonl", encoding: .utf8)
            .split(separator: "\n").map(String.init)
        #expect(lines == expected, "reports change nothing in the output")
        #expect(summary.reports == summary.alerts)
        let reports = try TestFiles.contents(of: directory).filter { $0.hasSuffix(".json") }
            .map { try JSONDecoder.reports.decode(AlertReport.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/" + $0))) }
        #expect(reports.count == summary.alerts)
        #expect(reports.filter { $0.decision != nil }.count == summary.decisions)
    }

    @Test func aReportDirectoryThatCannotBeMadeIsAnError() throws {
        let file = Self.temporaryDirectory()
        try "x".write(toFile: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: file) }
        let (engine, pairs) = try Self.thresholdRun()
        let alert = try #require(pairs.first?.alert)
        #expect(throws: AuditorError.self) {
            try AlertReportWriter(directory: file + "/reports").write(alert: alert, context: engine.evidence(for: alert))
        }
    }

    @Test func hostileTextIsEscapedInEveryFormat() throws {
        var alert = try #require(try Self.thresholdRun().pairs.first?.alert)
        alert.message = "<script>alert(1)</script> | & \"quoted\" ``` fence"
        alert.group = [GroupValue(field: "labels.x", value: "</pre><img src=x>")]
        let evidence = AlertEvidence(ruleLimit: "5 in 1m", unit: "events <in> window", series: [.init(time: 0, value: 1)], limit: 5,
                                     topSources: [.init(source: "<b>", events: 1)], samples: ["{\"x\":\"</pre>```\"}"])
        let report = AlertReport(alert: alert, evidence: evidence)
        try Self.expectSelfContainedHTML(report.html)
        #expect(!report.html.contains("<script>"))
        #expect(!report.html.contains("<img"))
        #expect(report.markdown.contains("````json"))
        #expect(report.markdown.contains("\\|"))
    }

    /// Parses the whole page as XML (it is written well-formed: void elements closed), so
    /// an unescaped value or unbalanced tag fails; checks the SVG and that nothing is fetched.
    static func expectSelfContainedHTML(_ html: String) throws {
        let parser = XMLParser(data: Data(html.replacingOccurrences(of: "<!DOCTYPE html>", with: "").utf8))
        let collector = ElementCollector()
        parser.delegate = collector
        #expect(parser.parse(), "not well-formed: \(parser.parserError.map { "\($0)" } ?? "?") at line \(parser.lineNumber)")
        #expect(collector.elements.first == "html")
        #expect(collector.elements.contains("svg"))
        #expect(collector.elements.contains("polyline") || html.contains("no recent values kept"))
        #expect(collector.elements.contains("line"))
        #expect(!collector.elements.contains("script"))
        #expect(!collector.elements.contains("link"))
        #expect(!collector.elements.contains("img"))
        #expect(collector.externalReferences.isEmpty, "\(collector.externalReferences)")
    }
}

private final class ElementCollector: NSObject, XMLParserDelegate {
    var elements: [String] = []
    var externalReferences: [String] = []

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        elements.append(name)
        for (key, value) in attributes where ["src", "href", "xlink:href"].contains(key) || value.contains("url(") {
            externalReferences.append("\(name) \(key)=\(value)")
        }
    }
}

extension JSONDecoder {
    static var reports: JSONDecoder {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return decoder
    }
}
