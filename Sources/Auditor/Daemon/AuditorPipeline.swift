import EventLog
import Logging

/// The daemon's work, one round at a time: read what every source has, run the rules
/// in event time, log and count what fires, store the decisions and hand them to the
/// blockers, then save the sources' positions. Every `expiryInterval` (wall time) it lifts
/// the bans that ran out from every blocker, takes in an operator's bans and unbans from
/// the state store, and retries blockers that failed.
///
/// Not thread-safe: one task drives it (`AuditorService`, or a test calling `step()`).
public final class AuditorPipeline {
    public struct Counts: Sendable, Hashable {
        public var events = 0
        public var malformed = 0
        public var alerts = 0
        public var decisions = 0
        public var expired = 0
        public var reports = 0
    }

    /// Lines taken from one source per round, so that one busy file cannot starve the others.
    static let batchLines = 10_000
    /// Malformed lines logged one by one per round; the rest are counted.
    static let loggedMalformedLines = 20

    public let configuration: AuditorConfiguration
    public let engine: RuleEngine
    public let sources: [any EventSource]
    let enforcement: BlockerSet
    /// Decisions handed to the blockers and not yet ended, by value.
    public private(set) var inForce: [String: Decision] = [:]
    private var blockerFailures: [String: Int] = [:]
    private let metrics: AuditorMetrics
    private let logger: Logger
    private let now: @Sendable () -> Int64
    private var nextExpiry: Int64 = .min
    /// Where decisions are kept across restarts; nil keeps them in memory only.
    public let ledger: (any DecisionLedger)?
    /// Where a report is written for each alert (`reports:`); nil writes none.
    public let reports: AlertReportWriter?
    private var decided: [Decision] = []
    /// Reports of this round, written once its decisions are enforced.
    private var pendingReports: [(alert: Alert, evidence: AlertEvidence)] = []
    public private(set) var counts = Counts()

    public init(configuration: AuditorConfiguration, rules: [Rule], sources: [any EventSource],
                blockers: [any Blocker], ledger: (any DecisionLedger)? = nil, metrics: AuditorMetrics, logger: Logger,
                now: @escaping @Sendable () -> Int64 = Event.nowMilliseconds) {
        self.configuration = configuration
        self.engine = RuleEngine(rules: Self.capped(rules, maximum: configuration.bans.maximumMilliseconds),
                                 allowlist: configuration.allowlist, simulation: configuration.simulation)
        self.sources = sources
        self.enforcement = BlockerSet(blockers: blockers, logger: logger, clock: now)
        self.ledger = ledger
        self.reports = configuration.reports.map(AlertReportWriter.init(directory:))
        if reports != nil { engine.keepEvidence() }
        self.metrics = metrics
        self.logger = logger
        self.now = now
        metrics.declare(blockers: blockers.map(\.name))
    }

    /// Before the first round: the decisions in force and the ban counts come back from the
    /// state store, and every blocker is made to hold exactly the decisions in force.
    public func start() async throws(AuditorError) {
        let wall = now()
        var active: [Decision] = []
        if let ledger {
            active = try await ledger.active(at: wall)
            engine.restore(DecisionBook(allowlist: configuration.allowlist, simulation: configuration.simulation,
                                        active: active, banCounts: try await ledger.banCounts()))
        }
        for decision in active where !decision.simulated { inForce[decision.value] = decision }
        metrics.activeBans.set(Double(inForce.count))
        await enforcement.start(active: Array(inForce.values))
        await countBlockerFailures()
        if !inForce.isEmpty { logger.info("decisions restored", metadata: ["count": "\(inForce.count)"]) }
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
                    guard !findings.isEmpty else { continue }
                    for finding in findings { handle(finding) }
                    if reports != nil {
                        for (alert, decision) in Finding.alertsWithDecisions(findings) {
                            pendingReports.append((alert, engine.evidence(for: alert, decision: decision)))
                        }
                    }
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
        // Stored before they are enforced and before the positions move past their events.
        if !decided.isEmpty { await enforceDecided() }
        if !pendingReports.isEmpty { writeReports() }
        let wall = now()
        if latest > .min { metrics.lagSeconds.set(Double(wall - latest) / 1000) }
        if wall >= nextExpiry {
            await tick(now: wall)
            nextExpiry = wall + configuration.expiryIntervalMilliseconds
        }
        if read > 0 {
            for source in sources { source.commit() }
        }
        return read
    }

    /// The periodic work: lifts the bans that ran out by `now` from every blocker, takes
    /// in what an operator changed in the state store, retries blockers that failed.
    public func tick(now wall: Int64) async {
        var added: [Decision] = []
        var liftedByOperator = Set<String>()
        if let ledger {
            do {
                _ = try await ledger.expire(now: wall)
                // `mtauditor decisions add|delete` writes the store; the daemon follows it.
                let stored = try await ledger.active(at: wall).filter { !$0.simulated }
                let storedValues = Set(stored.map(\.value))
                var book = engine.book
                for decision in stored {
                    if let current = inForce[decision.value], current.until >= decision.until { continue }
                    added.append(decision)
                    book.adopt(decision)
                    logger.notice("decision taken from the state store", metadata: Self.metadata(decision))
                }
                for decision in inForce.values where decision.until > wall && !storedValues.contains(decision.value) {
                    liftedByOperator.insert(decision.value)
                    book.lift(decision.value)
                    logger.notice("decision lifted in the state store", metadata: Self.metadata(decision))
                }
                if !added.isEmpty || !liftedByOperator.isEmpty { engine.restore(book) }
            } catch {
                metrics.stateFailures.increment()
                logger.error("state store not read; expiry goes on from memory", metadata: ["error": "\(error)"])
            }
        }
        let lifted = inForce.values.filter { $0.until <= wall || liftedByOperator.contains($0.value) }
        for decision in lifted {
            inForce[decision.value] = nil
            if decision.until <= wall {
                counts.expired += 1
                logger.info("ban expired", metadata: ["decision.value": "\(decision.value)", "decision.rule": "\(decision.rule)"])
            }
        }
        for decision in added { inForce[decision.value] = decision }
        if !lifted.isEmpty || !added.isEmpty {
            metrics.activeBans.set(Double(inForce.count))
            await enforcement.enforce(added: added, removed: lifted)
        }
        await enforcement.retryDue()
        await countBlockerFailures()
    }

    private func enforceDecided() async {
        let batch = decided
        decided.removeAll(keepingCapacity: true)
        if let ledger {
            do {
                try await ledger.record(batch)
            } catch {
                metrics.stateFailures.increment()
                logger.error("decisions not stored; they are enforced but will not survive a restart",
                             metadata: ["error": "\(error)", "count": "\(batch.count)"])
            }
        }
        let enforced = batch.filter { !$0.simulated }
        guard !enforced.isEmpty else { return }
        for decision in enforced { inForce[decision.value] = decision }
        metrics.activeBans.set(Double(inForce.count))
        await enforcement.enforce(added: enforced, removed: [])
        await countBlockerFailures()
    }

    private func writeReports() {
        guard let reports else { return }
        for (alert, evidence) in pendingReports {
            do {
                let paths = try reports.write(alert: alert, context: evidence)
                logger.info("alert report written", metadata: ["alert.rule": "\(alert.rule)", "report.html": "\(paths.last ?? "")"])
            } catch {
                metrics.reportFailures.increment()
                logger.error("alert report not written", metadata: ["alert.rule": "\(alert.rule)", "error": "\(error)"])
            }
        }
        counts.reports += pendingReports.count
        pendingReports.removeAll(keepingCapacity: true)
    }

    /// Blocker failures since the last look, into the per-blocker counters.
    private func countBlockerFailures() async {
        for status in await enforcement.statuses {
            let new = status.failures - blockerFailures[status.name, default: 0]
            if new > 0 { metrics.blockerFailures(blocker: status.name, count: new) }
            blockerFailures[status.name] = status.failures
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
            default: problems = [error.description]
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
        if !decided.isEmpty { await enforceDecided() }
        if !pendingReports.isEmpty { writeReports() }
        await enforcement.retryDue()
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
        case .decision(let decision):
            counts.decisions += 1
            metrics.decisions.increment()
            logger.notice(decision.simulated ? "decision (simulated, not enforced)" : "decision", metadata: Self.metadata(decision))
            decided.append(decision)
        case .match:
            break
        }
    }

    private static func metadata(_ decision: Decision) -> Logger.Metadata {
        ["decision.value": "\(decision.value)", "decision.scope": "\(decision.scope.rawValue)",
         "decision.rule": "\(decision.rule)", "decision.reason": "\(decision.reason)",
         "decision.until": "\(Event.timestampText(milliseconds: decision.until))",
         "decision.repeat": "\(decision.repeatCount)", "decision.origin": "\(decision.origin.rawValue)"]
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
