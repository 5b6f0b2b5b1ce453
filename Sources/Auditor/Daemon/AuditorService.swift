import Logging
import ServiceLifecycle
import Synchronization

/// `mtauditor run` as a `Service`: drives an `AuditorPipeline` until graceful shutdown,
/// reloading the rules on each trigger (SIGHUP).
///
/// Graceful shutdown drains: the round under way finishes, queued decisions reach the
/// blockers, the sources' positions are saved, and `run()` returns. With standard input
/// as the only source, the service also ends when it does.
public final class AuditorService<Triggers: AsyncSequence & Sendable>: Service, Sendable where Triggers.Element: Sendable {
    private let pipeline: Mutex<AuditorPipeline?>
    private let triggers: Triggers
    private let pollMilliseconds: Int64
    private let reloadRequests = Atomic<Int>(0)
    private let logger: Logger

    /// - Parameter triggers: each element asks for one rule reload.
    public init(pipeline: sending AuditorPipeline, reloadTriggers triggers: Triggers, logger: Logger) {
        self.pollMilliseconds = pipeline.configuration.pollIntervalMilliseconds
        self.pipeline = Mutex(pipeline)
        self.triggers = triggers
        self.logger = logger
    }

    /// Asks for a rule reload at the start of the next round.
    public func requestReload() {
        reloadRequests.add(1, ordering: .relaxed)
    }

    public func run() async throws {
        guard let pipeline = pipeline.withLock({ $0.take() }) else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [triggers] in
                do {
                    for try await _ in triggers.cancelOnGracefulShutdown() { self.requestReload() }
                } catch {}
            }
            await drive(pipeline)
            group.cancelAll()
        }
    }

    private func drive(_ pipeline: AuditorPipeline) async {
        let onlyStandardInput = pipeline.sources.compactMap { $0 as? StandardInputSource }
        let endsWithInput = !onlyStandardInput.isEmpty && onlyStandardInput.count == pipeline.sources.count
        while true {
            if reloadRequests.exchange(0, ordering: .relaxed) > 0 { pipeline.reloadRules() }
            let read = await pipeline.step()
            if Task.isShuttingDownGracefully || Task.isCancelled { break }
            if endsWithInput && read == 0 && onlyStandardInput.allSatisfy(\.isFinished) {
                logger.info("standard input ended")
                break
            }
            if read == 0 {
                try? await Task.sleep(for: .milliseconds(pollMilliseconds))
            } else {
                await Task.yield()
            }
        }
        await pipeline.finish()
        let counts = pipeline.counts
        logger.info("auditor stopped", metadata: [
            "events": "\(counts.events)", "malformed": "\(counts.malformed)", "alerts": "\(counts.alerts)",
            "decisions": "\(counts.decisions)",
        ])
    }
}
