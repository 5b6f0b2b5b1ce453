/// A rule that fired.
public struct Alert: Sendable, Hashable {
    public var rule: String
    public var kind: String
    /// Event time at which it fired.
    public var time: Int64
    /// The group's fields and values, in the rule's `group_by` order.
    public var group: [GroupValue]
    /// For threshold, leaky, distinct and trigger rules.
    public var overflow: Overflow?
    /// For anomaly rules.
    public var anomaly: AnomalyFigures?
    /// The rule's description.
    public var message: String

    public init(rule: String, kind: String, time: Int64, group: [GroupValue], overflow: Overflow?,
                anomaly: AnomalyFigures?, message: String) {
        self.rule = rule
        self.kind = kind
        self.time = time
        self.group = group
        self.overflow = overflow
        self.anomaly = anomaly
        self.message = message
    }
}

public struct GroupValue: Sendable, Hashable {
    public var field: String
    public var value: String

    public init(field: String, value: String) {
        self.field = field
        self.value = value
    }
}

/// The figures behind an anomaly alert.
public struct AnomalyFigures: Sendable, Hashable {
    public var measure: String
    public var intervalStart: Int64
    public var intervalMilliseconds: Int64
    public var observed: Double
    public var mean: Double
    public var sigma: Double
    /// `max(floor, mean + k·σ)`, the value the interval went above.
    public var limit: Double
    /// The observed values of the intervals before `intervalStart`, oldest first, each
    /// `intervalMilliseconds` long and ending where the next begins (bounded: at most the
    /// rule's `history`, at most 120), for a report's chart.
    public var recentIntervals: [Double] = []
}

/// One event counted by one rule, for `replay --explain`.
public struct RuleMatch: Sendable, Hashable {
    public var rule: String
    public var group: [GroupValue]
    /// The group's level after this event (events in window, bucket level, distinct values, interval rate).
    public var level: Double
    /// What the level is held against, in words (`20 in 1m`, `capacity 10`).
    public var limit: String
}

/// What the engine reports for each event it is given.
public enum Finding: Sendable, Hashable {
    case alert(Alert)
    case decision(Decision)
    /// Only with `explain`.
    case match(RuleMatch)
}
