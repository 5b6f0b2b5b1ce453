import EventLog
import Logging

/// The daemon's work, one round at a time: read what every source has, run the rules
/// in event time, log and count what fires, hand decisions to the blockers, lift the
/// bans that ran out (in wall time), then save the sources' positions.
///
/// Not thread-safe: one task drives it (`AuditorService`, or a test calling `step()`).
public final class AuditorPipeline {
    public struct Counts: Sendable, Hashable {
        public var events = 0
        public var malformed = 0
        public var alerts = 0
        public var decisions = 0
        public var expired = 0
    }

    /// Lines taken from one source per round, so that one busy file cannot starve the others.
    static let batchLines = 10_000
    /// Malformed lines logged one by one per round; the rest are counted.
    static let loggedMalformedLines = 20

    public let configuration: AuditorConfiguration
    public let engine: RuleEngine
    public let sources: [any EventSource]
    let enforcement: Enforcement
    private let metrics: AuditorMetrics
    private let logger: Logger
    private let now: () -> Int64
    private var nextExpiry: Int64 = .min
    /// Called for each alert (the report writer).
    public var onAlert: ((Alert) -> Void)?
    /// Where decisions are kept across restarts; nil keeps them in memory only.
    public var ledger: (any DecisionLedger)?
    private var decided: [Decision] = []
    public private(set) var counts = Counts()

    public init(configuration: AuditorConfiguration, rules: [Rule], sources: [any EventSource],
                targets: [EnforcementTarget], metrics: AuditorMetrics, logger: Logger,
                now: @escaping () -> Int64 = Event.nowMilliseconds) {
        self.configuration = configuration
        self.engine = RuleEngine(rules: Self.capped(rules, maximum: configuration.bans.maximumMilliseconds),
                                 allowlist: configuration.allowlist, simulation: configuration.simulation)
        self.sources = sources
        self.enforcement = Enforcement(targets: targets, metrics: metrics, logger: logger)
        self.metrics = metrics
        self.logger = logger
        self.now = now
    }

    /// Decisions in force in the blockers, by value.
    public var inForce: [String: Decision] { enforcement.inForce }

    /// Puts decisions that survived a restart back in force (from the decision store).
    public func restore(_ decisions: [Decision]) async {
        let wall = now()
        for decision in decisions where decision.until > wall { enforcement.enforce(decision) }
        await enforcement.flush(now: wall)
    }

    /// One round; returns the number of lines read (events and malformed ones).
    @discardableResult
    public func step() async -> Int {
        var read = 0
        var findings: [Finding] = []
        var latest = Int64.min
        var logged = 0
        for source in sources {
            let items = source.poll(limit: Self.batchLines)
            read += items.count
            var events = 0
            for item in items {
                switch item {
                case .event(let event, _):
                    events += 1
                    if event.timestampMilliseconds > latest { latest = event.timestampMilliseconds }
                    findings.removeAll(keepingCapacity: true)
                    engine.process(event, into: &findings)
                    for finding in findings { handle(finding) }
                case .malformed(let error):
                    counts.malformed += 1
                    metrics.parseErrors.increment()
                    if logged < Self.loggedMalformedLines {
                        logger.warning("malformed event line skipped", metadata: ["problem": "\(error)"])
                    }
                    logged += 1
                }
            }
            counts.events += events
            if events > 0 { metrics.eventsRead.increment(by: Int64(events)) }
        }
        if logged > Self.loggedMalformedLines {
            logger.warning("more malformed event lines skipped", metadata: ["count": "\(logged - Self.loggedMalformedLines)"])
        }
        if !decided.isEmpty {
            // Stored before they are enforced and before the positions move past their events.
            await record(decided)
            for decision in decided { enforcement.enforce(decision) }
            decided.removeAll(keepingCapacity: true)
        }
        let wall = now()
        if latest > .min { metrics.lagSeconds.set(Double(wall - latest) / 1000) }
        if wall >= nextExpiry {
            await liftExpired(now: wall)
            nextExpiry = wall + configuration.expiryIntervalMilliseconds
        }
        await enforcement.flush(now: wall)
        if read > 0 {
            for source in sources { source.commit() }
        }
        return read
    }

    /// Lifts, from every blocker, the bans that ran out by `now`.
    public func liftExpired(now wall: Int64) async {
        let expired = enforcement.expire(now: wall)
        if let ledger {
            do {
                try await ledger.expire(now: wall)
            } catch {
                logger.error("expired decisions not marked in the state store", metadata: ["error": "\(error)"])
            }
        }
        guard !expired.isEmpty else { return }
        counts.expired += expired.count
        for decision in expired {
            logger.info("ban expired", metadata: ["decision.value": "\(decision.value)", "decision.rule": "\(decision.rule)"])
        }
    }

    private func record(_ decisions: [Decision]) async {
        guard let ledger else { return }
        do {
            try await ledger.record(decisions)
        } catch {
            metrics.stateFailures.increment()
            logger.error("decisions not stored; they are enforced but will not survive a restart",
                         metadata: ["error": "\(error)", "count": "\(decisions.count)"])
        }
    }

    /// Re-reads the rule directory; a directory with any error leaves the running rules
    /// in force and logs every problem (file:line: key: why). Returns whether it took.
    @discardableResult
    public func reloadRules() -> Bool {
        do throws(AuditorError) {
            let rules = try RuleDirectory.load(path: configuration.rules)
            engine.replaceRules(Self.capped(rules, maximum: configuration.bans.maximumMilliseconds))
            metrics.ruleReloads.increment()
            logger.notice("rules reloaded", metadata: ["rules": "\(rules.count)", "directory": "\(configuration.rules)"])
            return true
        } catch {
            metrics.ruleReloadFailures.increment()
            let problems: [String]
            switch error {
            case .rules(let errors): problems = errors.map(\.description)
            case .input, .state, .blocker: problems = [error.description]
            }
            for problem in problems {
                logger.error("rules not reloaded; the previous rules stay in force", metadata: ["problem": "\(problem)"])
            }
            return false
        }
    }

    /// The last round before exit: whatever is queued for the blockers is sent, and the
    /// sources' positions are saved.
    public func finish() async {
        if !decided.isEmpty {
            await record(decided)
            for decision in decided { enforcement.enforce(decision) }
            decided.removeAll()
        }
        await enforcement.flush(now: .max)
        for source in sources { source.commit() }
    }

    private func handle(_ finding: Finding) {
        switch finding {
        case .alert(let alert):
            counts.alerts += 1
            metrics.alert(rule: alert.rule)
            var metadata: Logger.Metadata = ["alert.rule": "\(alert.rule)", "alert.kind": "\(alert.kind)",
                                             "alert.time": "\(Event.timestampText(milliseconds: alert.time))"]
            for value in alert.group { metadata["group.\(value.field)"] = "\(value.value)" }
            if let overflow = alert.overflow { metadata["alert.count"] = "\(overflow.count)" }
            if let anomaly = alert.anomaly {
                metadata["alert.observed"] = "\(anomaly.observed)"
                metadata["alert.limit"] = "\(anomaly.limit)"
            }
            logger.notice("alert", metadata: metadata)
            onAlert?(alert)
        case .decision(let decision):
            counts.decisions += 1
            metrics.decisions.increment()
            logger.notice(decision.simulated ? "decision (simulated, not enforced)" : "decision", metadata: [
                "decision.value": "\(decision.value)", "decision.scope": "\(decision.scope.rawValue)",
                "decision.rule": "\(decision.rule)", "decision.reason": "\(decision.reason)",
                "decision.until": "\(Event.timestampText(milliseconds: decision.until))",
                "decision.repeat": "\(decision.repeatCount)",
            ])
            decided.append(decision)
        case .match:
            break
        }
    }

    /// Rules whose bans are held to `bans.maximum`.
    static func capped(_ rules: [Rule], maximum: Int64) -> [Rule] {
        rules.map { rule in
            guard var ban = rule.ban else { return rule }
            ban.durationMilliseconds = min(ban.durationMilliseconds, maximum)
            ban.maximumMilliseconds = min(ban.maximumMilliseconds, maximum)
            var capped = rule
            capped.ban = ban
            return capped
        }
    }
}
