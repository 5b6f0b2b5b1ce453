import EventLog
import Logging

/// Builds the daemon's pipeline from its configuration: the sources, the state store,
/// the blockers and the report writer.
public struct AuditorDaemon {
    public let configuration: AuditorConfiguration
    public let logger: Logger
    public let metrics: AuditorMetrics
    public let now: @Sendable () -> Int64

    public init(configuration: AuditorConfiguration, logger: Logger, metrics: AuditorMetrics,
                now: @escaping @Sendable () -> Int64 = Event.nowMilliseconds) {
        self.configuration = configuration
        self.logger = logger
        self.metrics = metrics
        self.now = now
    }

    /// The pipeline over `rules`, with positions kept in `positions`.
    public func makePipeline(rules: [Rule], positions: any TailPositionStore = MemoryTailPositionStore()) throws(AuditorError) -> AuditorPipeline {
        let sources: [any EventSource] = configuration.sources.map { path -> any EventSource in
            path == "-" ? StandardInputSource() : EventTail(path: path, store: positions)
        }
        var targets: [EnforcementTarget] = []
        for blocker in configuration.blockers {
            targets.append(try target(blocker))
        }
        return AuditorPipeline(configuration: configuration, rules: rules, sources: sources, targets: targets,
                               metrics: metrics, logger: logger, now: now)
    }

    private func target(_ blocker: BlockerSettings) throws(AuditorError) -> EnforcementTarget {
        EnforcementTarget(try blocker.makeBlocker(), now: now)
    }
}
