import ConfigFile
import EventLog

/// Runs rules over events in event time: matches, groups, feeds the detectors, turns
/// what fires into alerts and, through the `DecisionBook`, into decisions.
///
/// Time is the events' own: the engine's clock is the latest timestamp it has seen, so
/// replaying a file gives what live detection gave. Not thread-safe: one engine per
/// task, fed in order.
public final class RuleEngine {
    /// A rule's detector, concrete: the hot loop calls it without dynamic dispatch.
    private enum Counting {
        case threshold(SlidingWindowCounter)
        case leaky(LeakyBucket)
        case distinct(DistinctCounter)
        case trigger
        case anomaly(RateBaseline)

        /// The detector's key for a field's value: a packed `ip_hash` becomes a key as it
        /// is, other values through their bytes.
        @inline(__always)
        func key(for text: FieldText) -> GroupKey {
            if case .hash(let hash) = text, let (high, low) = hash.packedWords {
                return GroupKey(packedHex: high, low)
            }
            return text.withBytes { bytes in
                switch self {
                case .threshold(let counter): counter.key(for: bytes)
                case .leaky(let bucket): bucket.key(for: bytes)
                case .distinct(let counter): counter.key(for: bytes)
                // Only whether the group exists matters to these.
                case .trigger, .anomaly: GroupKey()
                }
            }
        }

        @inline(__always)
        func observe(group: GroupKey, value: GroupKey?, at time: Int64) -> Observation {
            switch self {
            case .threshold(let counter): counter.observe(group: group, value: value, at: time)
            case .leaky(let bucket): bucket.observe(group: group, value: value, at: time)
            case .distinct(let counter): counter.observe(group: group, value: value, at: time)
            // `kind: trigger`: every matching event fires. Anomaly rules do not come here.
            case .trigger, .anomaly: Observation(level: 1, overflow: Overflow(count: 1, first: time, last: time))
            }
        }

        var detector: (any Detector)? {
            switch self {
            case .threshold(let counter): counter
            case .leaky(let bucket): bucket
            case .distinct(let counter): counter
            case .trigger, .anomaly: nil
            }
        }
    }

    private final class ActiveRule {
        let rule: Rule
        // The parts read for every event, held apart so that the hot loop does not copy
        // (retain and release) the whole `Rule` each time.
        /// The conditions other than the `event.action` one the rule is indexed by.
        let conditions: [Check]
        /// The actions the rule can match (nil: any), from its `event.action` condition.
        let actions: Set<String>?
        let groupBy: [EventField]
        let groupNames: [String]
        let counting: Counting
        let distinctField: EventField?
        let limit: String
        let reasonCounts: Bool
        let reasonText: String
        // Unchecked, as the engine's own state below: counted once per event, never reentered.
        @exclusivity(unchecked) var matched = 0
        @exclusivity(unchecked) var alerts = 0
        /// Recent matching events, only while reports are kept (`keepEvidence`).
        @exclusivity(unchecked) var evidence: EvidenceRing?

        init(_ rule: Rule) {
            self.rule = rule
            var conditions = rule.conditions
            var actions: Set<String>?
            if let index = conditions.firstIndex(where: { $0.isActionFilter }) {
                switch conditions.remove(at: index) {
                case .equals(_, let action): actions = [action]
                case .oneOf(_, let values): actions = values
                default: break
                }
            }
            self.conditions = conditions.map(Check.init)
            self.actions = actions
            self.groupBy = rule.groupBy
            self.groupNames = rule.groupBy.map(\.description)
            (reasonCounts, reasonText) = RuleEngine.reasonText(rule)
            switch rule.kind {
            case .threshold(let count, let window):
                counting = .threshold(SlidingWindowCounter(count: count, windowMilliseconds: window))
                distinctField = nil
                limit = "\(count) in \(RuleEngine.format(window))"
            case .leaky(let capacity, let leak):
                counting = .leaky(LeakyBucket(capacity: capacity, leakMilliseconds: leak))
                distinctField = nil
                limit = "capacity \(capacity), leaking 1 per \(RuleEngine.format(leak))"
            case .distinct(let field, let count, let window):
                counting = .distinct(DistinctCounter(count: count, windowMilliseconds: window))
                distinctField = field
                limit = "\(count) distinct \(field) in \(RuleEngine.format(window))"
            case .trigger:
                counting = .trigger
                distinctField = nil
                limit = "any"
            case .anomaly(let parameters):
                counting = .anomaly(RateBaseline(parameters: parameters))
                if case .distinct(let field) = parameters.measure { distinctField = field } else { distinctField = nil }
                limit = "mean + \(parameters.k)σ over \(parameters.history) × \(RuleEngine.format(parameters.intervalMilliseconds)), floor \(parameters.floor)"
            }
        }

        /// The event fields the rule reads: to match, group, count distinct values and ban.
        var readFields: EventFieldSet {
            var fields: EventFieldSet = []
            for condition in rule.conditions { fields.formUnion(condition.field.decoded) }
            for field in rule.groupBy { fields.formUnion(field.decoded) }
            if let field = distinctField { fields.formUnion(field.decoded) }
            if let target = rule.ban?.target { fields.formUnion(target.decoded) }
            return fields
        }

        var baseline: RateBaseline? {
            if case .anomaly(let baseline) = counting { return baseline }
            return nil
        }

        func matches(_ event: Event) -> Bool {
            for condition in conditions where !condition.matches(event) { return false }
            return true
        }
    }

    /// A condition as the hot loop asks it: a short `one of` list is compared value by
    /// value (most values are small strings compared in one word) rather than hashed.
    private enum Check {
        case equals(EventField, String)
        case oneOf(EventField, [String])
        case other(Condition)

        init(_ condition: Condition) {
            switch condition {
            case .equals(let field, let value): self = .equals(field, value)
            case .oneOf(let field, let values) where values.count <= 16: self = .oneOf(field, values.sorted())
            default: self = .other(condition)
            }
        }

        func matches(_ event: Event) -> Bool {
            switch self {
            case .equals(let field, let expected):
                return field.text(of: event) == expected
            case .oneOf(let field, let values):
                guard let text = field.text(of: event) else { return false }
                for value in values where value == text { return true }
                return false
            case .other(let condition):
                return condition.matches(event)
            }
        }
    }

    /// The rules each action can match, in rule order, so that an event visits only those.
    ///
    /// The lists hold the rules unretained (the engine's `active` holds them), so that
    /// visiting a rule costs no atomic reference count.
    private struct ActionIndex {
        private var actions: [String] = []
        private var lists: [[Unmanaged<ActiveRule>]] = []
        /// Rules without an `event.action` condition: the list of any other action.
        private var others: [Unmanaged<ActiveRule>] = []
        /// Every anomaly rule: its intervals advance with every event, matching or not.
        private var baselines: [RateBaseline] = []
        /// The earliest end of a baseline's open interval: an event before it closes no
        /// interval, and the baselines are not visited.
        private var baselineBoundary: Int64 = .min

        init(_ rules: [ActiveRule]) {
            var named = Set<String>()
            for entry in rules { named.formUnion(entry.actions ?? []) }
            // The vocabulary's own strings where they match, so that comparing the action
            // the decoder gives (one of these constants) mostly compares identical storage.
            actions = named.sorted().map { name in Self.vocabulary.first { $0 == name } ?? name }
            lists = actions.map { action in rules.filter { $0.actions?.contains(action) ?? true }.map(Unmanaged.passUnretained) }
            others = rules.filter { $0.actions == nil }.map(Unmanaged.passUnretained)
            baselines = rules.compactMap(\.baseline)
        }

        /// Closes the baselines' intervals that end by `time`.
        mutating func advanceBaselines(to time: Int64) {
            guard time >= baselineBoundary, !baselines.isEmpty else { return }
            var boundary = Int64.max
            for baseline in baselines {
                baseline.advance(to: time)
                boundary = min(boundary, baseline.openEnd)
            }
            baselineBoundary = boundary
        }

        static let vocabularyActions: [EventAction] = [
            .proxyStarted, .proxyStopped, .configReloaded, .configRejected, .blocklistReloaded,
            .connectionAccepted, .connectionRejected, .handshakeSucceeded, .handshakeFailed, .probeForwarded,
            .upstreamFailed, .sessionClosed, .eventsDropped, .secretRotated, .secretRetired,
        ]
        static let vocabulary: [String] = vocabularyActions.map(\.rawValue)

        /// Action strings met before and their list (`lists.count`: `others`), held so that
        /// their storage stays theirs: the decoder gives the vocabulary's constants, so the
        /// same two words come again and are recognised without comparing text.
        private var seen: [(action: String, list: Int)] = []

        private static func bits(_ text: String) -> (UInt64, UInt64) {
            unsafeBitCast(text, to: (UInt64, UInt64).self)
        }

        mutating func rules(for action: EventAction) -> [Unmanaged<ActiveRule>] {
            let name = action.rawValue
            let bits = Self.bits(name)
            for entry in seen {
                let known = Self.bits(entry.action)
                if known.0 == bits.0 && known.1 == bits.1 { return entry.list < lists.count ? lists[entry.list] : others }
            }
            let list = actions.firstIndex(of: name) ?? lists.count
            if seen.count < 32 { seen.append((name, list)) }
            return list < lists.count ? lists[list] : others
        }
    }

    /// How often, in event time, idle groups and expired decisions are dropped.
    static let sweepInterval: Int64 = 60_000

    private var active: [ActiveRule] { didSet { index = ActionIndex(active) } }
    // Unchecked: the engine is not thread-safe and never reenters itself while it mutates
    // these; the dynamic exclusivity checks were a visible share of every event.
    @exclusivity(unchecked) private var index: ActionIndex
    /// Set by `keepEvidence(samplesPerRule:)`.
    public private(set) var samplesPerRule: Int?
    // Unchecked, as `index`: read or changed for every event or alert, never reentered.
    @exclusivity(unchecked) public private(set) var book: DecisionBook
    @exclusivity(unchecked) public var explain: Bool
    /// The latest event time seen.
    @exclusivity(unchecked) public private(set) var now: Int64 = .min
    @exclusivity(unchecked) private var nextSweep: Int64 = .min

    public init(rules: [Rule], allowlist: [CIDR] = [], simulation: Bool = false, explain: Bool = false) {
        let active = rules.map(ActiveRule.init)
        self.active = active
        self.index = ActionIndex(active)
        self.book = DecisionBook(allowlist: allowlist, simulation: simulation)
        self.explain = explain
    }

    public var rules: [Rule] { active.map(\.rule) }

    /// Swaps in a decision book: the one restored from the state store at start, or one
    /// with an operator's manual bans and unbans taken in.
    public func restore(_ book: DecisionBook) {
        self.book = book
    }

    /// Swaps in a new rule set (a reload). A rule whose definition did not change keeps
    /// its counters; decisions and ban histories are kept whatever changed.
    public func replaceRules(_ rules: [Rule]) {
        var kept: [String: ActiveRule] = [:]
        for entry in active { kept[entry.rule.name] = entry }
        active = rules.map { rule in
            if let existing = kept[rule.name], existing.rule == rule { return existing }
            let fresh = ActiveRule(rule)
            if let samplesPerRule { fresh.evidence = EvidenceRing(capacity: samplesPerRule) }
            return fresh
        }
    }

    /// Keeps the last `samplesPerRule` matching events of each rule (with their group and
    /// level) so that `evidence(for:decision:)` can chart an alert and show its sources
    /// and sample events. Memory is bounded by rules × `samplesPerRule`, whatever the
    /// number of groups; off by default, as replay without reports needs none of it.
    public func keepEvidence(samplesPerRule: Int = 512) {
        self.samplesPerRule = samplesPerRule
        for entry in active { entry.evidence = EvidenceRing(capacity: samplesPerRule) }
    }

    /// The event fields the rules read (match, group, distinct, ban target), or every
    /// field while evidence is kept (reports show whole events): what a reader of the log
    /// must decode for this engine.
    public var neededFields: EventFieldSet {
        if samplesPerRule != nil { return .all }
        return active.reduce(into: []) { $0.formUnion($1.readFields) }
    }

    /// `neededFields` for the lines of each action of the vocabulary: only the rules that
    /// can match an action read its lines (a `session.closed` line, say, may need none).
    /// Empty while evidence is kept.
    public var neededFieldsByAction: [EventAction: EventFieldSet] {
        if samplesPerRule != nil { return [:] }
        var byAction: [EventAction: EventFieldSet] = [:]
        for action in ActionIndex.vocabularyActions {
            byAction[action] = active.reduce(into: []) { fields, entry in
                if entry.actions?.contains(action.rawValue) ?? true { fields.formUnion(entry.readFields) }
            }
        }
        return byAction
    }

    /// Per rule: events matched and alerts raised so far.
    public var counts: [(rule: String, matched: Int, alerts: Int)] {
        active.map { ($0.rule.name, $0.matched, $0.alerts) }
    }

    /// Runs every rule over `event`, appending what it finds.
    public func process(_ event: Event, into findings: inout [Finding]) {
        let time = event.timestampMilliseconds
        if time > now { now = time }
        if now >= nextSweep { sweep() }
        index.advanceBaselines(to: time)
        let rules = index.rules(for: event.action)
        // The engine's `active` keeps each rule alive: borrowed, not retained. The event is
        // reached through a pointer: a closure capturing it would copy it (every field
        // retained) for each event.
        withUnsafePointer(to: event) { event in
            for rule in rules {
                rule._withUnsafeGuaranteedRef { visit($0, event.pointee, at: time, into: &findings) }
            }
        }
    }

    @inline(__always)
    private func visit(_ entry: ActiveRule, _ event: Event, at time: Int64, into findings: inout [Finding]) {
        guard entry.matches(event) else { return }
        if case .anomaly(let baseline) = entry.counting {
            let value = entry.distinctField.flatMap { $0.text(of: event) }
            let (level, alert) = baseline.observe(value: value, at: time)
            entry.matched += 1
            entry.evidence?.append(group: "", level: level, event: event)
            if explain { findings.append(.match(RuleMatch(rule: entry.rule.name, group: [], level: level, limit: entry.limit))) }
            if let alert { raise(entry, anomaly: alert, at: now, into: &findings) }
            return
        }
        guard let observation = observe(entry, event, at: time) else { return }
        entry.matched += 1
        if entry.evidence != nil, let key = groupKey(entry.groupBy, event) {
            entry.evidence?.append(group: key, level: observation.level, event: event)
        }
        if explain {
            findings.append(.match(RuleMatch(rule: entry.rule.name, group: groupValues(entry, event),
                                             level: observation.level, limit: entry.limit)))
        }
        if let overflow = observation.overflow { raise(entry, overflow: overflow, event: event, into: &findings) }
    }

    private func raise(_ entry: ActiveRule, overflow: Overflow, event: Event, into findings: inout [Finding]) {
        entry.alerts += 1
        let rule = entry.rule
        // A late event fires at the engine's clock, not in its past.
        let time = now
        findings.append(.alert(Alert(rule: rule.name, kind: rule.kind.name, time: time,
                                     group: groupValues(entry, event), overflow: overflow,
                                     anomaly: nil, message: rule.description)))
        guard let policy = rule.ban, let value = policy.target.text(of: event) else { return }
        // A value already banned gives no decision whatever else holds: skip the scope
        // and allowlist checks and the reason's text (most alerts of a flood land here).
        if book.isInForce(value, at: time) { return }
        if case .decided(let decision) = book.ban(value, rule: rule.name, reason: reason(entry, overflow),
                                                   policy: policy, at: time) {
            findings.append(.decision(decision))
        }
    }

    private func raise(_ entry: ActiveRule, anomaly: RateBaseline.Alert, at time: Int64, into findings: inout [Finding]) {
        entry.alerts += 1
        guard case .anomaly(let parameters) = entry.rule.kind else { return }
        let measure: String
        switch parameters.measure {
        case .events: measure = "events"
        case .distinct(let field): measure = "distinct \(field)"
        }
        let figures = AnomalyFigures(measure: measure, intervalStart: anomaly.intervalStart,
                                     intervalMilliseconds: parameters.intervalMilliseconds, observed: anomaly.observed,
                                     mean: anomaly.mean, sigma: anomaly.sigma, limit: anomaly.limit,
                                     recentIntervals: anomaly.recent)
        findings.append(.alert(Alert(rule: entry.rule.name, kind: "anomaly", time: time, group: [], overflow: nil,
                                     anomaly: figures, message: entry.rule.description)))
    }

    /// What a report shows beside `alert`: call it right after the `process` that raised
    /// the alert, while the rule's recent events are those that led to it. Without
    /// `keepEvidence` the chart and samples are empty, except an anomaly's intervals.
    public func evidence(for alert: Alert, decision: Decision? = nil) -> AlertEvidence {
        guard let entry = active.first(where: { $0.rule.name == alert.rule }) else {
            return AlertEvidence(ruleLimit: "", unit: "", series: [], limit: 0, decision: decision)
        }
        let isAnomaly = alert.anomaly != nil
        let key = isAnomaly ? nil : alert.group.map(\.value).joined(separator: "\u{1F}")
        let recent = entry.evidence?.entries(of: key).filter { $0.event.timestampMilliseconds <= alert.time } ?? []
        let events = recent.map(\.event)
        var evidence = AlertEvidence(ruleLimit: entry.limit, unit: "", series: [], limit: 0,
                                     topSources: AlertEvidence.topSources(of: events),
                                     samples: AlertEvidence.samples(of: events), decision: decision)
        switch entry.rule.kind {
        case .anomaly(let parameters):
            let figures = alert.anomaly
            let interval = parameters.intervalMilliseconds
            let start = figures?.intervalStart ?? alert.time
            let values = (figures?.recentIntervals ?? []) + [figures?.observed ?? 0]
            evidence.series = values.suffix(AlertEvidence.maximumPoints).enumerated().map { offset, value in
                let back = Int64(min(values.count, AlertEvidence.maximumPoints) - 1 - offset)
                return AlertEvidence.Point(time: start - back * interval, value: value)
            }
            evidence.unit = "\(figures?.measure ?? "events") per \(Self.format(interval))"
            evidence.limit = figures?.limit ?? parameters.floor
            evidence.mean = figures?.mean
        case .threshold(let count, _):
            evidence.unit = "events in window"
            evidence.limit = Double(count)
        case .leaky(let capacity, _):
            evidence.unit = "bucket level"
            evidence.limit = Double(capacity)
        case .distinct(let field, let count, _):
            evidence.unit = "distinct \(field)"
            evidence.limit = Double(count)
        case .trigger:
            evidence.unit = "matching events"
            evidence.limit = 1
        }
        if !isAnomaly {
            evidence.series = recent.suffix(AlertEvidence.maximumPoints).map {
                AlertEvidence.Point(time: $0.event.timestampMilliseconds, value: $0.level)
            }
        }
        return evidence
    }

    /// A decision's reason: the overflow's count before `reasonText` when `reasonCounts`.
    private static func reasonText(_ rule: Rule) -> (counts: Bool, text: String) {
        switch rule.kind {
        case .threshold(_, let window): (true, " events in \(Self.format(window))")
        case .leaky(let capacity, let leak): (false, "bucket of \(capacity) leaking 1 per \(Self.format(leak)) overflowed")
        case .distinct(let field, _, let window): (true, " distinct \(field) in \(Self.format(window))")
        case .trigger, .anomaly: (false, rule.description.isEmpty ? rule.name : rule.description)
        }
    }

    private func reason(_ entry: ActiveRule, _ overflow: Overflow) -> String {
        entry.reasonCounts ? String(overflow.count) + entry.reasonText : entry.reasonText
    }

    /// Counts `event` in its group of `entry`; nil when the event lacks a field the rule
    /// groups by or counts distinct values of. The group's text and the value are read as
    /// bytes off the event (closures that capture the event itself would copy it).
    @inline(__always)
    private func observe(_ entry: ActiveRule, _ event: Event, at time: Int64) -> Observation? {
        let counting = entry.counting
        let group: FieldText
        if entry.groupBy.count == 1 {
            guard let text = entry.groupBy[0].fieldText(of: event) else { return nil }
            group = text
        } else {
            guard let text = groupKey(entry.groupBy, event) else { return nil }
            group = FieldText(text)
        }
        var value: GroupKey?
        if let distinctField = entry.distinctField {
            guard let text = distinctField.fieldText(of: event) else { return nil }
            value = counting.key(for: text)
        }
        return counting.observe(group: counting.key(for: group), value: value, at: time)
    }

    private func groupKey(_ fields: [EventField], _ event: Event) -> String? {
        if fields.count == 1 { return fields[0].text(of: event) }
        var key = ""
        for (index, field) in fields.enumerated() {
            guard let text = field.text(of: event) else { return nil }
            if index > 0 { key += "\u{1F}" }
            key += text
        }
        return key
    }

    private func groupValues(_ entry: ActiveRule, _ event: Event) -> [GroupValue] {
        var values: [GroupValue] = []
        values.reserveCapacity(entry.groupBy.count)
        for (field, name) in zip(entry.groupBy, entry.groupNames) {
            values.append(GroupValue(field: name, value: field.text(of: event) ?? ""))
        }
        return values
    }

    private func sweep() {
        for entry in active { entry.counting.detector?.forgetIdle(now: now) }
        book.expire(now: now)
        nextSweep = now + Self.sweepInterval
    }

    /// Groups held in memory across all rules.
    public var groupCount: Int { active.reduce(0) { $0 + ($1.counting.detector?.groupCount ?? 0) } }

    static func format(_ milliseconds: Int64) -> String {
        ConfigText.format(.milliseconds(milliseconds))
    }
}
