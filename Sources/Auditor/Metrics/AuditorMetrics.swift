import Prometheus
import Synchronization

/// The daemon's Prometheus series (`mtauditor_…`), created once; labels are bounded by
/// the rule directory and the configured blockers.
public final class AuditorMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let eventsRead: Counter
    let parseErrors: Counter
    let lagSeconds: Gauge
    let activeBans: Gauge
    let decisions: Counter
    let stateFailures: Counter
    let ruleReloads: Counter
    let ruleReloadFailures: Counter
    private let alertsByRule = Mutex<[String: Counter]>([:])
    private let failuresByBlocker = Mutex<[String: Counter]>([:])

    private static func name(_ metric: String, unit: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "mtauditor", metricName: metric, unitName: unit, helpText: help)
    }

    private static var alerts: MetricNameDescriptor { name("alerts", unit: "total", help: "Alerts raised, by rule.") }
    private static var blockerFailures: MetricNameDescriptor {
        name("blocker_failures", unit: "total", help: "Blocker operations that failed (each is retried).")
    }

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        eventsRead = registry.makeCounter(descriptor: Self.name("events_read", unit: "total", help: "Events read and decoded from every source."))
        parseErrors = registry.makeCounter(descriptor: Self.name("parse_errors", unit: "total", help: "Malformed event lines, skipped."))
        lagSeconds = registry.makeGauge(descriptor: Self.name("lag", unit: "seconds",
                                                              help: "Wall clock minus the timestamp of the latest event processed."))
        activeBans = registry.makeGauge(descriptor: Self.name("active_bans", unit: "", help: "Decisions in force in the blockers."))
        decisions = registry.makeCounter(descriptor: Self.name("decisions", unit: "total", help: "Decisions made by rules."))
        stateFailures = registry.makeCounter(descriptor: Self.name("state_failures", unit: "total",
                                                                   help: "Writes to the state store that failed."))
        ruleReloads = registry.makeCounter(descriptor: Self.name("rule_reloads", unit: "total", help: "Rule reloads put in force."))
        ruleReloadFailures = registry.makeCounter(descriptor: Self.name("rule_reload_failures", unit: "total",
                                                                        help: "Rule reloads refused; the previous rules stayed."))
    }

    func alert(rule: String) {
        counter(rule, in: alertsByRule, label: "rule", descriptor: Self.alerts).increment()
    }

    func blockerFailure(blocker: String) {
        counter(blocker, in: failuresByBlocker, label: "blocker", descriptor: Self.blockerFailures).increment()
    }

    /// Creates the per-blocker series at zero so that they show before the first failure.
    func declare(blockers: [String]) {
        for name in blockers { _ = counter(name, in: failuresByBlocker, label: "blocker", descriptor: Self.blockerFailures) }
    }

    private func counter(_ value: String, in counters: borrowing Mutex<[String: Counter]>, label: String,
                         descriptor: MetricNameDescriptor) -> Counter {
        counters.withLock { counters in
            if let counter = counters[value] { return counter }
            let counter = registry.makeCounter(descriptor: descriptor, labels: [(label, value)])
            counters[value] = counter
            return counter
        }
    }

    /// The Prometheus text exposition.
    public func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }
}
