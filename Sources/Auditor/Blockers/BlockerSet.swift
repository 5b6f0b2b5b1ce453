import EventLog
import Logging

/// Drives a set of blockers on its own (`mtauditor decisions`, the ban-rate benchmark; the
/// daemon drives its blockers through `EnforcementTarget`): hands each one the decisions it can enforce, in
/// batches; keeps what failed and retries it with exponential backoff; counts successes
/// and failures per blocker for the daemon's metrics. It never throws: a blocker that
/// fails is logged and retried, and detection goes on.
///
/// Simulated decisions are never enforced. Call `start(active:)` once with the decisions
/// in force, `enforce(added:removed:)` for each batch of new and ended decisions, and
/// `retryDue()` on a timer (every second is plenty; `nextRetry` says when it matters).
public actor BlockerSet {
    /// One blocker's figures.
    public struct BlockerStatus: Sendable, Hashable {
        public var name: String
        /// Changes (a value added or removed) applied.
        public var applied = 0
        /// Attempts that failed, whole or in part.
        public var failures = 0
        /// Changes waiting for a retry.
        public var pending = 0
        /// The latest failure, cleared by the next success.
        public var lastError: String?
    }

    public static let firstRetryDelay: Int64 = 1_000
    public static let longestRetryDelay: Int64 = 300_000

    private struct Slot {
        let blocker: any Blocker
        var added: [String: Decision] = [:]
        var removed: [String: Decision] = [:]
        /// Its state is unknown (a whole batch failed, or it never started): rebuild it whole.
        var needsSynchronize = true
        var busy = false
        var consecutiveFailures = 0
        var nextAttempt: Int64 = .min
        var status: BlockerStatus

        var hasWork: Bool { needsSynchronize || !added.isEmpty || !removed.isEmpty }
    }

    private var slots: [Slot]
    /// The enforced decisions in force, by value: what a synchronization installs.
    private var active: [String: Decision] = [:]
    private let clock: @Sendable () -> Int64
    private let logger: Logger

    public init(blockers: [any Blocker], logger: Logger = Logger(label: "mtshield.auditor.enforcement"),
                clock: @escaping @Sendable () -> Int64 = Event.nowMilliseconds) {
        self.slots = blockers.map { Slot(blocker: $0, status: BlockerStatus(name: $0.name)) }
        self.clock = clock
        self.logger = logger
    }

    /// Installs the decisions in force in every blocker (after a start or a restart).
    public func start(active decisions: [Decision]) async {
        active = [:]
        for decision in decisions where !decision.simulated { active[decision.value] = decision }
        for index in slots.indices {
            slots[index].needsSynchronize = true
            slots[index].added = [:]
            slots[index].removed = [:]
            slots[index].nextAttempt = .min
        }
        await attemptAll()
    }

    /// Enforces new decisions and lifts ended ones (expired or unbanned) in every blocker.
    public func enforce(added: [Decision], removed: [Decision]) async {
        let added = added.filter { !$0.simulated }
        let removed = removed.filter { !$0.simulated }
        guard !added.isEmpty || !removed.isEmpty else { return }
        for decision in removed where active[decision.value]?.until ?? .min <= decision.until {
            active.removeValue(forKey: decision.value)
        }
        for decision in added { active[decision.value] = decision }
        for index in slots.indices {
            let blocker = slots[index].blocker
            for decision in removed where blocker.accepts(decision.scope) {
                slots[index].added.removeValue(forKey: decision.value)
                slots[index].removed[decision.value] = decision
            }
            for decision in added where blocker.accepts(decision.scope) {
                slots[index].removed.removeValue(forKey: decision.value)
                slots[index].added[decision.value] = decision
            }
            slots[index].status.pending = slots[index].added.count + slots[index].removed.count
        }
        await attemptAll()
    }

    /// Retries every blocker whose backoff has run out.
    public func retryDue() async {
        await attemptAll()
    }

    public var statuses: [BlockerStatus] { slots.map(\.status) }

    /// The earliest time a retry is due, or nil when nothing waits.
    public var nextRetry: Int64? {
        slots.filter { $0.hasWork && !$0.busy }.map(\.nextAttempt).min()
    }

    private func attemptAll() async {
        for index in slots.indices { await attempt(index) }
    }

    private func attempt(_ index: Int) async {
        // An actor method suspends at each blocker call: `busy` keeps one batch in flight per
        // blocker, and what arrives meanwhile waits in the slot for the next round.
        while !slots[index].busy, slots[index].hasWork, clock() >= slots[index].nextAttempt {
            slots[index].busy = true
            let blocker = slots[index].blocker
            let now = clock()
            let synchronizing = slots[index].needsSynchronize
            let added = slots[index].added
            let removed = slots[index].removed
            slots[index].needsSynchronize = false
            slots[index].added = [:]
            slots[index].removed = [:]
            let result: Result<Void, AuditorError>
            if synchronizing {
                let decisions = active.values.filter { blocker.accepts($0.scope) && $0.until > now }.sorted { $0.value < $1.value }
                result = await Self.run { () async throws(AuditorError) in try await blocker.synchronize(active: decisions, now: now) }
                switch result {
                case .success:
                    slots[index].status.applied += decisions.count
                case .failure(.blocker(_, _, let values)) where !values.isEmpty:
                    // In place but for these values: add them on the retry instead of rebuilding it all.
                    slots[index].status.applied += max(0, decisions.count - values.count)
                    for value in values {
                        if let decision = active[value], slots[index].removed[value] == nil, slots[index].added[value] == nil {
                            slots[index].added[value] = decision
                        }
                    }
                case .failure:
                    slots[index].needsSynchronize = true
                }
            } else {
                let adding = added.values.filter { $0.until > now }.sorted { $0.value < $1.value }
                let removing = removed.values.sorted { $0.value < $1.value }
                result = await Self.run { () async throws(AuditorError) in try await blocker.apply(added: adding, removed: removing, now: now) }
                switch result {
                case .success:
                    slots[index].status.applied += adding.count + removing.count
                case .failure(.blocker(_, _, let values)) where !values.isEmpty:
                    // Only these values failed: keep them (unless newer changes replaced them) for the retry.
                    let failed = Set(values)
                    slots[index].status.applied += max(0, adding.count + removing.count - failed.count)
                    for (value, decision) in added where failed.contains(value) && slots[index].removed[value] == nil {
                        slots[index].added[value] = slots[index].added[value] ?? decision
                    }
                    for (value, decision) in removed where failed.contains(value) && slots[index].added[value] == nil {
                        slots[index].removed[value] = slots[index].removed[value] ?? decision
                    }
                case .failure:
                    slots[index].needsSynchronize = true
                }
            }
            slots[index].busy = false
            switch result {
            case .success:
                slots[index].consecutiveFailures = 0
                slots[index].nextAttempt = .min
                slots[index].status.lastError = nil
            case .failure(let error):
                slots[index].consecutiveFailures += 1
                slots[index].status.failures += 1
                slots[index].status.lastError = error.description
                let delay = Self.retryDelay(afterFailures: slots[index].consecutiveFailures)
                slots[index].nextAttempt = clock() + delay
                logger.error("blocker failed; retrying", metadata: [
                    "blocker.name": "\(blocker.name)", "error": "\(error.description)",
                    "retry.in_ms": "\(delay)", "retry.failures": "\(slots[index].consecutiveFailures)",
                ])
            }
            slots[index].status.pending = slots[index].added.count + slots[index].removed.count
        }
    }

    static func retryDelay(afterFailures failures: Int) -> Int64 {
        min(firstRetryDelay << Int64(min(failures - 1, 20)), longestRetryDelay)
    }

    private static func run(_ body: () async throws(AuditorError) -> Void) async -> Result<Void, AuditorError> {
        do {
            try await body()
            return .success(())
        } catch {
            return .failure(error)
        }
    }
}
