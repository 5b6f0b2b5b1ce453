import ConfigFile
import EventLog
import Foundation

/// `mtauditor report --since 24h`: the alerts of a period read back from the reports
/// directory, the rules that fired, the bans, and the top offenders.
public struct ReportSummary: Sendable {
    public struct RuleCount: Sendable, Hashable {
        public var rule: String
        public var kind: String
        public var alerts: Int
        public var bans: Int
    }

    public struct Offender: Sendable, Hashable {
        /// An address, network or ip_hash, as the events named it.
        public var value: String
        /// Alerts whose group is this value.
        public var alerts: Int
        /// Events attributed to it among those alerts' top sources.
        public var events: Int
        /// The latest ban on it in the period, if any.
        public var bannedUntil: Int64?
        /// Its bans in the period, by rules and by hand.
        public var bans = 0
    }

    public struct Ban: Sendable, Hashable {
        public var value: String
        public var scope: String
        public var rule: String
        public var reason: String
        public var created: Int64
        public var until: Int64
        public var repeatCount: Int
        public var simulated: Bool
        /// `rule` (the daemon decided) or `manual` (`mtauditor decisions add`).
        public var origin: String
        /// When it ended before `until` (an operator lifted it) or when it expired; nil while in force
        /// or when only a report records it.
        public var ended: Int64?

        public init(value: String, scope: String, rule: String, reason: String, created: Int64, until: Int64,
                    repeatCount: Int, simulated: Bool, origin: String = Decision.Origin.rule.rawValue, ended: Int64? = nil) {
            self.value = value
            self.scope = scope
            self.rule = rule
            self.reason = reason
            self.created = created
            self.until = until
            self.repeatCount = repeatCount
            self.simulated = simulated
            self.origin = origin
            self.ended = ended
        }

        public init(_ decision: Decision, ended: Int64? = nil) {
            self.init(value: decision.value, scope: decision.scope.rawValue, rule: decision.rule, reason: decision.reason,
                      created: decision.created, until: decision.until, repeatCount: decision.repeatCount,
                      simulated: decision.simulated, origin: decision.origin.rawValue, ended: ended)
        }

        public init(_ stored: StoredDecision) {
            self.init(stored.decision, ended: stored.ended)
        }

        /// When it stopped (or stops) applying.
        public var end: Int64 { min(ended ?? until, until) }

        /// Whether it applied at some time in `[since, now]`: made by `now`, not over before `since`.
        func overlaps(since: Int64, now: Int64) -> Bool {
            created <= now && end > since
        }
    }

    /// The period: `[since, now]`, milliseconds since the epoch.
    public var since: Int64
    public var now: Int64
    /// The period's alerts, oldest first, each with the path of its JSON report.
    public var alerts: [(report: AlertReport, path: String)]
    public var bans: [Ban]
    /// Report files that could not be read, each `path: why`; the rest is summarized.
    public var unreadable: [String]

    /// A period with nothing in it yet: `merge(bans:)` and `merge(state:)` fill it.
    public init(since: Int64, now: Int64) {
        self.init(since: since, now: now, alerts: [], bans: [], unreadable: [])
    }

    private init(since: Int64, now: Int64, alerts: [(report: AlertReport, path: String)], bans: [Ban], unreadable: [String]) {
        self.since = since
        self.now = now
        self.alerts = alerts
        self.bans = bans
        self.unreadable = unreadable
    }

    public var rules: [RuleCount] {
        var counts: [String: RuleCount] = [:]
        for (report, _) in alerts {
            counts[report.rule, default: RuleCount(rule: report.rule, kind: report.kind, alerts: 0, bans: 0)].alerts += 1
        }
        for ban in bans {
            counts[ban.rule, default: RuleCount(rule: ban.rule, kind: "", alerts: 0, bans: 0)].bans += 1
        }
        return counts.values.sorted { $0.alerts != $1.alerts ? $0.alerts > $1.alerts : $0.rule < $1.rule }
    }

    public func offenders(limit: Int = 10) -> [Offender] {
        var table: [String: Offender] = [:]
        for (report, _) in alerts {
            for entry in report.group where Self.addressFields.contains(entry.field) {
                table[entry.value, default: Offender(value: entry.value, alerts: 0, events: 0)].alerts += 1
            }
            for source in report.topSources {
                table[source.source, default: Offender(value: source.source, alerts: 0, events: 0)].events += source.events
            }
        }
        for ban in bans {
            table[ban.value, default: Offender(value: ban.value, alerts: 0, events: 0)].bannedUntil =
                max(table[ban.value]?.bannedUntil ?? .min, ban.end)
            table[ban.value]?.bans += 1
        }
        return table.values.sorted {
            ($0.alerts, $0.bans, $0.events, $1.value) > ($1.alerts, $1.bans, $1.events, $0.value)
        }.prefix(limit).map { $0 }
    }

    static let addressFields: Set<String> = ["source.ip", "source.prefix", "source.address", "source.ip_hash"]

    /// Reads the JSON reports written at or after `since` in `directory`. Bans are those
    /// the reports record; `merge(bans:)` adds the decision store's.
    public static func load(directory: String, since: Int64, now: Int64) throws(AuditorError) -> ReportSummary {
        var summary = ReportSummary(since: since, now: now)
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw AuditorError.input(path: directory, message: "cannot list the reports directory: \((error as NSError).localizedDescription)")
        }
        // File names begin with the compact alert time, so older reports are passed over
        // without being opened.
        let earliest = Event.timestampText(milliseconds: since).filter { $0 != "-" && $0 != ":" }
        for name in names.sorted() where name.hasSuffix(".json") && !name.hasPrefix(".") && name >= earliest {
            let path = directory + "/" + name
            do {
                let data = try Data(contentsOf: URL(fileURLWithPath: path))
                let schema = try AlertReportWriter.decoder.decode(SchemaHeader.self, from: data).schema
                guard schema == AlertReport.schemaName else {
                    summary.unreadable.append("\(path): not an alert report (schema \(schema ?? "missing"))")
                    continue
                }
                let report = try AlertReportWriter.decoder.decode(AlertReport.self, from: data)
                guard report.timeMs >= since, report.timeMs <= now else { continue }
                summary.alerts.append((report, path))
                if let decision = report.decision {
                    summary.bans.append(Ban(value: decision.value, scope: decision.scope, rule: report.rule, reason: decision.reason,
                                            created: report.timeMs, until: decision.untilMs, repeatCount: decision.repeat,
                                            simulated: decision.simulated))
                }
            } catch {
                summary.unreadable.append("\(path): \(Self.describe(error))")
            }
        }
        summary.alerts.sort { ($0.report.timeMs, $0.path) < ($1.report.timeMs, $1.path) }
        return summary
    }

    /// Adds bans from the decision store: those in force at some time in the period (made
    /// before it and still running count too), manual ones included. One the reports
    /// already hold (same value, rule and creation time) is not counted twice: the store's
    /// record replaces it, for its origin and end.
    public mutating func merge(bans more: [Ban]) {
        var index: [String: Int] = [:]
        for (position, ban) in bans.enumerated() { index[Self.key(ban)] = position }
        for ban in more where ban.overlaps(since: since, now: now) {
            if let position = index[Self.key(ban)] {
                bans[position] = ban
            } else {
                index[Self.key(ban)] = bans.count
                bans.append(ban)
            }
        }
        bans.sort { ($0.created, $0.value) < ($1.created, $1.value) }
    }

    /// Adds the bans of the auditor's state store at `path` (its `state:`) for the period.
    /// The file must exist: a report is never the place to create an empty store. A file
    /// that is not an auditor state store is refused with an error naming it.
    public mutating func merge(state path: String) async throws(AuditorError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw AuditorError.state(path: path, message: "no such file (the daemon creates it at its first start; "
                                     + "give the configuration's `state:` with --state or --config)")
        }
        guard !isDirectory.boolValue else {
            throw AuditorError.state(path: path, message: "a directory, not the state file")
        }
        let store = try await DecisionStore.open(path: path)
        let stored: [StoredDecision]
        do {
            stored = try await store.decisions(overlapping: since, now)
        } catch {
            await store.close()
            throw error
        }
        await store.close()
        merge(bans: stored.map(Ban.init))
    }

    private static func key(_ ban: Ban) -> String {
        "\(ban.value)\u{0}\(ban.rule)\u{0}\(ban.created)"
    }

    private struct SchemaHeader: Decodable {
        var schema: String?
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.dataCorrupted(let context): "not JSON: \(context.debugDescription)"
        case DecodingError.keyNotFound(let key, _): "missing key \(key.stringValue)"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            "\(context.codingPath.map(\.stringValue).joined(separator: ".")): wrong type"
        default: (error as NSError).localizedDescription
        }
    }
}

extension ReportSummary {
    /// The summary for a terminal.
    public var text: String {
        let time = { (milliseconds: Int64) in Event.timestampText(milliseconds: milliseconds) }
        var text = "Since \(time(since)) (\(RuleEngine.format(now - since))): \(alerts.count) alerts, "
            + "\(rules.filter { $0.alerts > 0 }.count) rules fired, \(bans.count) bans\n"
        text += "\nRules fired:\n"
        if rules.isEmpty { text += "  none\n" }
        for rule in rules { text += "  \(rule.rule) (\(rule.kind.isEmpty ? "?" : rule.kind)): \(rule.alerts) alerts, \(rule.bans) bans\n" }
        text += "\nTop offenders:\n"
        let offenders = offenders()
        if offenders.isEmpty { text += "  none\n" }
        for offender in offenders {
            text += "  \(offender.value): \(offender.alerts) alerts, \(offender.events) events"
            if let until = offender.bannedUntil {
                text += ", banned until \(time(until))\(until > now ? "" : " (over)"), "
                    + (offender.bans == 1 ? "1 ban" : "\(offender.bans) bans")
            }
            text += "\n"
        }
        text += "\nBans:\n"
        if bans.isEmpty { text += "  none\n" }
        for ban in bans {
            text += "  \(time(ban.created)) \(ban.value) (\(ban.scope)) by \(ban.origin == "manual" ? "an operator" : ban.rule)"
                + " until \(time(ban.until))"
            if let ended = ban.ended, ended < ban.until { text += ", lifted \(time(ended))" }
            text += ", ban number \(ban.repeatCount)\(ban.simulated ? ", simulated" : ""): \(ban.reason)\n"
        }
        text += "\nAlerts:\n"
        if alerts.isEmpty { text += "  none\n" }
        for (report, path) in alerts {
            text += "  \(report.time) \(report.rule) \(report.groupText)"
            if let overflow = report.overflow { text += ": \(overflow.count) (\(report.ruleLimit))" }
            if let anomaly = report.anomaly { text += ": \(AlertReport.number(anomaly.observed)) \(anomaly.measure) over limit \(AlertReport.number(anomaly.limit))" }
            text += "\n    \(path.hasSuffix(".json") ? String(path.dropLast(5)) + ".html" : path)\n"
        }
        for problem in unreadable { text += "unreadable: \(problem)\n" }
        return text
    }

    /// The summary as one JSON object.
    public var json: String {
        var line = JSONLine()
        line.addTime("since", since)
        line.addTime("now", now)
        var counts = JSONLine()
        counts.add("alerts", alerts.count)
        counts.add("bans", bans.count)
        counts.add("unreadable", unreadable.count)
        line.add("counts", counts)
        line.addArray("rules", rules.map { rule in
            var object = JSONLine()
            object.add("rule", rule.rule)
            object.add("kind", rule.kind)
            object.add("alerts", rule.alerts)
            object.add("bans", rule.bans)
            return object
        })
        line.addArray("top_offenders", offenders().map { offender in
            var object = JSONLine()
            object.add("value", offender.value)
            object.add("alerts", offender.alerts)
            object.add("events", offender.events)
            if let until = offender.bannedUntil { object.addTime("banned_until", until) }
            object.add("bans", offender.bans)
            return object
        })
        line.addArray("bans", bans.map { ban in
            var object = JSONLine()
            object.add("value", ban.value)
            object.add("scope", ban.scope)
            object.add("rule", ban.rule)
            object.add("reason", ban.reason)
            object.addTime("created", ban.created)
            object.addTime("until", ban.until)
            object.add("repeat", ban.repeatCount)
            object.add("origin", ban.origin)
            if let ended = ban.ended { object.addTime("ended", ended) }
            object.add("simulated", ban.simulated)
            return object
        })
        line.addArray("alerts", alerts.map { report, path in
            var object = JSONLine()
            object.add("time", report.time)
            object.add("rule", report.rule)
            object.add("kind", report.kind)
            object.add("group", report.groupText)
            object.add("report", path)
            return object
        })
        line.addArray("unreadable", unreadable.map { problem in
            var object = JSONLine()
            object.add("problem", problem)
            return object
        })
        return line.finished
    }

    /// Parses `--since` (`24h`, `30m`, `7d`).
    public static func period(_ text: String) throws(AuditorError) -> Int64 {
        guard let duration = ConfigText.duration(text), duration > .zero else {
            throw AuditorError.input(path: "--since", message: "\"\(text)\" is not a duration such as 30m, 24h or 7d")
        }
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
