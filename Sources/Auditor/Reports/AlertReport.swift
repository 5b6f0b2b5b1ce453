import EventLog

/// One alert's report as written to `NAME.json` (schema `mtauditor.alert-report`,
/// version 1) and read back by `ReportSummary`. Times are RFC 3339 UTC text beside
/// milliseconds since the epoch.
public struct AlertReport: Codable, Sendable, Hashable {
    public static let schemaName = "mtauditor.alert-report"
    public static let schemaVersion = 1

    public struct GroupEntry: Codable, Sendable, Hashable {
        public var field: String
        public var value: String
    }

    public struct OverflowFigures: Codable, Sendable, Hashable {
        public var count: Int
        public var first: String
        public var last: String
    }

    public struct AnomalySection: Codable, Sendable, Hashable {
        public var measure: String
        public var intervalStart: String
        public var interval: String
        public var observed: Double
        public var mean: Double
        public var sigma: Double
        public var limit: Double
    }

    public struct ChartPoint: Codable, Sendable, Hashable {
        public var time: String
        public var timeMs: Int64
        public var value: Double
    }

    public struct Chart: Codable, Sendable, Hashable {
        public var unit: String
        public var limit: Double
        public var mean: Double?
        public var points: [ChartPoint]
    }

    public struct SourceEntry: Codable, Sendable, Hashable {
        public var source: String
        public var events: Int
    }

    public struct DecisionSection: Codable, Sendable, Hashable {
        public var value: String
        public var scope: String
        public var reason: String
        public var created: String
        public var until: String
        public var untilMs: Int64
        public var duration: String
        public var `repeat`: Int
        public var simulated: Bool
    }

    public var schema: String
    public var version: Int
    public var rule: String
    public var kind: String
    public var message: String
    public var time: String
    public var timeMs: Int64
    public var group: [GroupEntry]
    /// The rule's limit in words.
    public var ruleLimit: String
    public var overflow: OverflowFigures?
    public var anomaly: AnomalySection?
    public var chart: Chart
    public var topSources: [SourceEntry]
    /// Event lines as the log carried them (privacy-minimized by the producer).
    public var sampleEvents: [String]
    public var decision: DecisionSection?

    public init(alert: Alert, evidence: AlertEvidence) {
        schema = Self.schemaName
        version = Self.schemaVersion
        rule = alert.rule
        kind = alert.kind
        message = alert.message
        time = Event.timestampText(milliseconds: alert.time)
        timeMs = alert.time
        group = alert.group.map { GroupEntry(field: $0.field, value: $0.value) }
        ruleLimit = evidence.ruleLimit
        overflow = alert.overflow.map {
            OverflowFigures(count: $0.count, first: Event.timestampText(milliseconds: $0.first),
                            last: Event.timestampText(milliseconds: $0.last))
        }
        anomaly = alert.anomaly.map {
            AnomalySection(measure: $0.measure, intervalStart: Event.timestampText(milliseconds: $0.intervalStart),
                           interval: RuleEngine.format($0.intervalMilliseconds), observed: $0.observed,
                           mean: $0.mean, sigma: $0.sigma, limit: $0.limit)
        }
        chart = Chart(unit: evidence.unit, limit: evidence.limit, mean: evidence.mean, points: evidence.series.map {
            ChartPoint(time: Event.timestampText(milliseconds: $0.time), timeMs: $0.time, value: $0.value)
        })
        topSources = evidence.topSources.map { SourceEntry(source: $0.source, events: $0.events) }
        sampleEvents = evidence.samples
        decision = evidence.decision.map {
            DecisionSection(value: $0.value, scope: $0.scope.rawValue, reason: $0.reason,
                            created: Event.timestampText(milliseconds: $0.created),
                            until: Event.timestampText(milliseconds: $0.until), untilMs: $0.until,
                            duration: RuleEngine.format($0.until - $0.created), repeat: $0.repeatCount,
                            simulated: $0.simulated)
        }
    }

    /// `field=value, …`, or `global` for an anomaly rule.
    public var groupText: String {
        group.isEmpty ? "global" : group.map { "\($0.field)=\($0.value)" }.joined(separator: ", ")
    }
}
