import EventLog

/// What a report shows beside an alert's figures: the chart of the measure against its
/// limit, the top sources and sample events, and the decision the alert led to.
///
/// Built by `RuleEngine.evidence(for:decision:)` from bounded state: a ring of the most
/// recent matching events per rule (`RuleEngine.keepEvidence(samplesPerRule:)`) and, for
/// anomaly rules, the last intervals of the baseline.
public struct AlertEvidence: Sendable, Hashable {
    public struct Point: Sendable, Hashable {
        /// Event time, milliseconds since the epoch.
        public var time: Int64
        public var value: Double

        public init(time: Int64, value: Double) {
            self.time = time
            self.value = value
        }
    }

    public struct SourceCount: Sendable, Hashable {
        /// `source.ip` where the log carries it, else `source.ip_hash`.
        public var source: String
        public var events: Int

        public init(source: String, events: Int) {
            self.source = source
            self.events = events
        }
    }

    /// The rule's limit in words (`20 in 1m`, `capacity 60, leaking 1 per 1s`).
    public var ruleLimit: String
    /// What the chart's values are (`events in window`, `bucket level`, `events per 10s`).
    public var unit: String
    /// The measure over time: the group's level after each of its recent events, or an
    /// anomaly rule's value per interval (the interval's start), oldest first.
    public var series: [Point]
    /// The line the measure crossed.
    public var limit: Double
    /// An anomaly rule's baseline mean.
    public var mean: Double?
    /// Most frequent sources among the sample window's events, most first.
    public var topSources: [SourceCount]
    /// The most recent matching events of the group, oldest first, as the log wrote them
    /// (already privacy-minimized by the producer; nothing is added).
    public var samples: [String]
    /// The ban the alert led to, if any.
    public var decision: Decision?

    public init(ruleLimit: String, unit: String, series: [Point], limit: Double, mean: Double? = nil,
                topSources: [SourceCount] = [], samples: [String] = [], decision: Decision? = nil) {
        self.ruleLimit = ruleLimit
        self.unit = unit
        self.series = series
        self.limit = limit
        self.mean = mean
        self.topSources = topSources
        self.samples = samples
        self.decision = decision
    }
}

/// The most recent matching events of one rule, with the group each was counted in and
/// the group's level after it: a fixed-capacity ring, so memory does not grow with the
/// number of groups or events.
final class EvidenceRing {
    struct Entry {
        var group: String
        var level: Double
        var event: Event
    }

    let capacity: Int
    private var entries: [Entry] = []
    private var next = 0

    init(capacity: Int) {
        self.capacity = max(1, capacity)
        entries.reserveCapacity(self.capacity)
    }

    func append(group: String, level: Double, event: Event) {
        let entry = Entry(group: group, level: level, event: event)
        if entries.count < capacity {
            entries.append(entry)
        } else {
            entries[next] = entry
        }
        next = (next + 1) % capacity
    }

    /// The entries of `group` (every entry when nil), oldest first.
    func entries(of group: String?) -> [Entry] {
        let ordered = entries.count < capacity ? entries : Array(entries[next...] + entries[..<next])
        guard let group else { return ordered }
        return ordered.filter { $0.group == group }
    }
}

extension AlertEvidence {
    /// How many points a chart and how many events a report carry at most.
    static let maximumPoints = 240
    static let maximumSamples = 20
    static let maximumSources = 10

    static func topSources(of events: [Event]) -> [SourceCount] {
        var counts: [String: Int] = [:]
        for event in events {
            guard let source = EventField.sourceAddress.text(of: event) else { continue }
            counts[source, default: 0] += 1
        }
        return counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .prefix(maximumSources).map { SourceCount(source: $0.key, events: $0.value) }
    }

    static func samples(of events: [Event]) -> [String] {
        events.suffix(maximumSamples).map { event in
            var line = event.jsonLine()
            if line.last == 0x0A { line.removeLast() }
            return String(decoding: line, as: UTF8.self)
        }
    }
}
