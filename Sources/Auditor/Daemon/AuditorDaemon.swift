import EventLog
import Logging

/// Builds the daemon's pipeline from its configuration: the state store, the sources
/// (resuming from the saved positions), the blockers.
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

    /// The blockers `blockers:` names, in order.
    public static func blockers(_ settings: [BlockerSettings]) throws(AuditorError) -> [any Blocker] {
        var blockers: [any Blocker] = []
        for blocker in settings { blockers.append(try blocker.makeBlocker()) }
        return blockers
    }

    /// Opens the state store (when `state:` names one), builds the pipeline over `rules`
    /// and starts it: decisions in force are restored and every blocker synchronized.
    /// The caller closes the returned store after the pipeline's last round.
    public func makePipeline(rules: [Rule]) async throws(AuditorError) -> (pipeline: AuditorPipeline, store: DecisionStore?) {
        let store = try await configuration.state.asyncMap { path throws(AuditorError) in
            try await DecisionStore.open(path: path, logger: logger)
        }
        let positions: any TailPositionStore = store ?? MemoryTailPositionStore()
        let sources: [any EventSource] = configuration.sources.map { path -> any EventSource in
            path == "-" ? StandardInputSource() : EventTail(path: path, store: positions)
        }
        let pipeline: AuditorPipeline
        do throws(AuditorError) {
            pipeline = AuditorPipeline(configuration: configuration, rules: rules, sources: sources,
                                       blockers: try Self.blockers(configuration.blockers), ledger: store,
                                       metrics: metrics, logger: logger, now: now)
            try await pipeline.start()
        } catch {
            await store?.close()
            throw error
        }
        return (pipeline, store)
    }
}

extension Optional {
    fileprivate func asyncMap<T, E: Error>(_ transform: (Wrapped) async throws(E) -> T) async throws(E) -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
