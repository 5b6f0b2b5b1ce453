import EventLog

/// One detection rule, as written in `rules/NAME.yaml` and validated before it runs.
public struct Rule: Sendable, Hashable {
    /// Unique across the rule directory; appears in alerts and decisions.
    public var name: String
    public var description: String
    /// The file it came from, for messages.
    public var file: String
    /// Every condition must hold for an event to count (`match`).
    public var conditions: [Condition]
    /// Events are counted per distinct combination of these fields' values; an event
    /// lacking one of them is not counted. Empty for anomaly rules (they are global).
    public var groupBy: [EventField]
    public var kind: Kind
    /// What happens when the rule fires; nil means report only.
    public var ban: BanPolicy?

    public enum Kind: Sendable, Hashable {
        /// Fires when `count` events of one group fall within `window`.
        case threshold(count: Int, windowMilliseconds: Int64)
        /// A bucket per group that holds `capacity` events and leaks one every `leak`;
        /// fires when an event arrives at a full bucket.
        case leaky(capacity: Int, leakMilliseconds: Int64)
        /// Fires when one group shows `count` distinct values of `field` within `window`.
        case distinct(field: EventField, count: Int, windowMilliseconds: Int64)
        /// Fires on every matching event.
        case trigger
        /// Compares a per-interval rate with its own rolling baseline.
        case anomaly(AnomalyParameters)

        public var name: String {
            switch self {
            case .threshold: "threshold"
            case .leaky: "leaky"
            case .distinct: "distinct"
            case .trigger: "trigger"
            case .anomaly: "anomaly"
            }
        }
    }

    public init(name: String, description: String = "", file: String = "", conditions: [Condition],
                groupBy: [EventField], kind: Kind, ban: BanPolicy? = nil) {
        self.name = name
        self.description = description
        self.file = file
        self.conditions = conditions
        self.groupBy = groupBy
        self.kind = kind
        self.ban = ban
    }

    public func matches(_ event: Event) -> Bool {
        for condition in conditions where !condition.matches(event) { return false }
        return true
    }
}

/// `ban:` — how long an offender is blocked, growing for repeat offenders.
public struct BanPolicy: Sendable, Hashable {
    /// The group field whose value is banned: an address, a prefix or an `ip_hash`.
    public var target: EventField
    public var durationMilliseconds: Int64
    /// Each earlier ban of the same value multiplies the duration by this.
    public var factor: Double
    public var maximumMilliseconds: Int64

    public init(target: EventField, durationMilliseconds: Int64, factor: Double = 2, maximumMilliseconds: Int64) {
        self.target = target
        self.durationMilliseconds = durationMilliseconds
        self.factor = factor
        self.maximumMilliseconds = maximumMilliseconds
    }

    /// The length of a ban for a value banned `earlierBans` times before.
    public func duration(earlierBans: Int) -> Int64 {
        var length = Double(durationMilliseconds)
        for _ in 0..<min(earlierBans, 64) {
            length *= factor
            if length >= Double(maximumMilliseconds) { break }
        }
        return min(Int64(min(length, Double(Int64.max / 2))), maximumMilliseconds)
    }
}

/// `anomaly:` — a rate compared with its own history.
public struct AnomalyParameters: Sendable, Hashable {
    public enum Measure: Sendable, Hashable {
        /// Matching events per interval.
        case events
        /// Distinct values of a field among matching events per interval.
        case distinct(EventField)
    }

    public var measure: Measure
    public var intervalMilliseconds: Int64
    /// Closed intervals kept in the baseline.
    public var history: Int
    /// Intervals that must be in the baseline before it may alert (the cold start).
    public var warmup: Int
    /// Alert above mean + k·σ …
    public var k: Double
    /// … and above this many per interval, whatever the baseline says.
    public var floor: Double

    public init(measure: Measure, intervalMilliseconds: Int64, history: Int, warmup: Int, k: Double, floor: Double) {
        self.measure = measure
        self.intervalMilliseconds = intervalMilliseconds
        self.history = history
        self.warmup = warmup
        self.k = k
        self.floor = floor
    }
}
