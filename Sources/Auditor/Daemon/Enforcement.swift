import Logging

/// One blocker as the daemon drives it: put decisions in force, lift them. Either may
/// throw; the work is kept and retried, and detection goes on meanwhile.
public struct EnforcementTarget {
    public var name: String
    public var ban: ([Decision]) async throws -> Void
    public var unban: ([Decision]) async throws -> Void

    public init(name: String, ban: @escaping ([Decision]) async throws -> Void,
                unban: @escaping ([Decision]) async throws -> Void) {
        self.name = name
        self.ban = ban
        self.unban = unban
    }
}

/// The decisions in force and, per blocker, what is still to be sent to it. Decisions
/// reach every blocker in batches (one per `flush`); a blocker that fails keeps its batch
/// and is retried with a growing pause, without holding back the others.
final class Enforcement {
    private struct Backlog {
        var bans: [String: Decision] = [:]
        var unbans: [String: Decision] = [:]
        var retryAt: Int64 = .min
        var pause: Int64 = 0
        var isEmpty: Bool { bans.isEmpty && unbans.isEmpty }
    }

    static let firstRetryPause: Int64 = 500
    static let longestRetryPause: Int64 = 60_000

    private let targets: [EnforcementTarget]
    private var backlogs: [Backlog]
    private let metrics: AuditorMetrics
    private let logger: Logger
    /// Decisions given to the blockers and not yet expired, by value.
    private(set) var inForce: [String: Decision] = [:]

    init(targets: [EnforcementTarget], metrics: AuditorMetrics, logger: Logger) {
        self.targets = targets
        self.backlogs = Array(repeating: Backlog(), count: targets.count)
        self.metrics = metrics
        self.logger = logger
        metrics.declare(blockers: targets.map(\.name))
    }

    var hasBacklog: Bool { backlogs.contains { !$0.isEmpty } }

    /// Queues `decision` for every blocker; a simulated one is never enforced.
    func enforce(_ decision: Decision) {
        guard !decision.simulated else { return }
        inForce[decision.value] = decision
        for index in backlogs.indices {
            backlogs[index].unbans[decision.value] = nil
            backlogs[index].bans[decision.value] = decision
        }
        metrics.activeBans.set(Double(inForce.count))
    }

    /// Queues the lifting of every decision that ran out by `now`; returns them.
    @discardableResult
    func expire(now: Int64) -> [Decision] {
        let expired = inForce.values.filter { $0.until <= now }
        for decision in expired {
            inForce[decision.value] = nil
            for index in backlogs.indices {
                backlogs[index].bans[decision.value] = nil
                backlogs[index].unbans[decision.value] = decision
            }
        }
        if !expired.isEmpty { metrics.activeBans.set(Double(inForce.count)) }
        return expired
    }

    /// Sends each blocker its queued work, unless it is waiting to retry.
    func flush(now: Int64) async {
        for index in targets.indices where !backlogs[index].isEmpty && backlogs[index].retryAt <= now {
            let target = targets[index]
            do {
                if !backlogs[index].bans.isEmpty {
                    try await target.ban(Array(backlogs[index].bans.values))
                    backlogs[index].bans.removeAll()
                }
                if !backlogs[index].unbans.isEmpty {
                    try await target.unban(Array(backlogs[index].unbans.values))
                    backlogs[index].unbans.removeAll()
                }
                backlogs[index].pause = 0
            } catch {
                let pause = min(Self.longestRetryPause, max(Self.firstRetryPause, backlogs[index].pause * 2))
                backlogs[index].pause = pause
                backlogs[index].retryAt = now + pause
                metrics.blockerFailure(blocker: target.name)
                logger.error("blocker failed; retrying", metadata: [
                    "blocker": "\(target.name)", "error": "\(error)", "retry_in_ms": "\(pause)",
                    "pending.bans": "\(backlogs[index].bans.count)", "pending.unbans": "\(backlogs[index].unbans.count)",
                ])
            }
        }
    }
}
