import ConfigFile
import EventLog
import Logging
import ServiceLifecycle
import Synchronization

/// Re-reads the configuration file on each trigger (SIGHUP in `mtproxy run`). A file
/// with any problem is refused whole and the running configuration stays in force
/// (`config.rejected`, naming file:line:key); a good one is handed to `apply`
/// (`config.reloaded`). Keys that only take effect at start are named in the event.
public final class ConfigurationReloader<Triggers: AsyncSequence & Sendable>: Service, Sendable
where Triggers.Element: Sendable {
    /// What one reload did.
    public enum Outcome: Sendable, Hashable {
        /// In force; `restartRequired` lists keys whose change waits for a restart.
        case reloaded(ProxyConfiguration, restartRequired: [String])
        case rejected(ConfigError)
    }

    private let path: String
    private let current: Mutex<ProxyConfiguration>
    private let triggers: Triggers
    private let events: any EventSink
    private let logger: Logger
    private let now: @Sendable () -> Int64
    private let beforeReload: @Sendable () -> Void
    private let apply: @Sendable (ProxyConfiguration) async -> Void

    /// - Parameters:
    ///   - configuration: the configuration in force at start.
    ///   - triggers: each element asks for one reload.
    ///   - beforeReload: runs on every trigger, good file or bad (reopening the event
    ///     file after logrotate, so the reload's own event lands in the new file).
    ///   - apply: puts an accepted configuration in force.
    public init(path: String, configuration: ProxyConfiguration, triggers: Triggers, events: any EventSink,
                logger: Logger, now: @escaping @Sendable () -> Int64,
                beforeReload: @escaping @Sendable () -> Void = {},
                apply: @escaping @Sendable (ProxyConfiguration) async -> Void) {
        self.path = path
        self.current = Mutex(configuration)
        self.triggers = triggers
        self.events = events
        self.logger = logger
        self.now = now
        self.beforeReload = beforeReload
        self.apply = apply
    }

    /// The configuration in force.
    public var configuration: ProxyConfiguration { current.withLock { $0 } }

    public func run() async throws {
        for try await _ in triggers.cancelOnGracefulShutdown() {
            await reload()
        }
    }

    /// Reads the file once and applies it if it is valid.
    @discardableResult
    public func reload() async -> Outcome {
        beforeReload()
        let previous = configuration
        let next: ProxyConfiguration
        do throws(ConfigError) {
            next = try ProxyConfiguration.load(path: path)
        } catch {
            logger.error("configuration rejected; the running one stays in force", metadata: ["problem": "\(error)"])
            var labels = ["file": error.file, "problem": error.message]
            if let line = error.line { labels["line"] = "\(line)" }
            if let key = error.key { labels["key"] = key }
            events.emit(Event(timestampMilliseconds: now(), action: .configRejected, outcome: .failure,
                              instance: previous.instance, message: "configuration rejected", labels: labels))
            return .rejected(error)
        }
        let restartRequired = Self.restartOnlyChanges(from: previous, to: next)
        if !restartRequired.isEmpty {
            logger.warning("some changed keys take effect only after a restart",
                           metadata: ["keys": "\(restartRequired.joined(separator: ","))"])
        }
        var applied = next
        // What cannot change live stays as it is, so `configuration` tells the truth.
        applied.listen = previous.listen
        applied.stats = previous.stats
        applied.events = previous.events
        applied.user = previous.user
        applied.allowRoot = previous.allowRoot
        await apply(applied)
        current.withLock { $0 = applied }
        var labels = ["secrets": "\(applied.secrets.count)"]
        if !restartRequired.isEmpty { labels["restart_required"] = restartRequired.joined(separator: ",") }
        events.emit(Event(timestampMilliseconds: now(), action: .configReloaded, outcome: .success,
                          instance: applied.instance, message: "configuration reloaded", labels: labels))
        logger.info("configuration reloaded", metadata: ["secrets": "\(applied.secrets.count)"])
        for rotation in Self.rotations(from: previous, to: applied) {
            events.emit(Event(timestampMilliseconds: now(), action: .secretRotated, outcome: .success,
                              instance: applied.instance, secretName: rotation.secret.name, message: "secret rotated",
                              labels: ["retiring": rotation.retiring.name,
                                       "retires_at": RetirementTime.format(milliseconds: rotation.retiring.retiresAtMilliseconds ?? 0)]))
        }
        return .reloaded(applied, restartRequired: restartRequired)
    }

    /// Secrets that were in service before and are retiring now (matched by key, as
    /// `secret rotate` renames them), each with the secret that took its name.
    static func rotations(from old: ProxyConfiguration, to new: ProxyConfiguration) -> [(secret: ProxySecret, retiring: ProxySecret)] {
        new.secrets.compactMap { retiring in
            guard retiring.retiresAtMilliseconds != nil,
                  let before = old.secrets.first(where: { $0.key == retiring.key && $0.retiresAtMilliseconds == nil }),
                  let successor = new.secrets.first(where: { $0.name == before.name && $0.retiresAtMilliseconds == nil })
            else { return nil }
            return (successor, retiring)
        }
    }

    /// Keys fixed at start: sockets already bound, the event file's privacy and queue,
    /// the user already switched to.
    static func restartOnlyChanges(from old: ProxyConfiguration, to new: ProxyConfiguration) -> [String] {
        var keys: [String] = []
        if old.listen != new.listen { keys.append("listen") }
        if old.stats.listen != new.stats.listen { keys.append("stats.listen") }
        if old.events.path != new.events.path { keys.append("events.path") }
        if old.events.privacy != new.events.privacy { keys.append("events.privacy") }
        if old.events.queueCapacity != new.events.queueCapacity { keys.append("events.queue_capacity") }
        if old.user != new.user { keys.append("user") }
        if old.allowRoot != new.allowRoot { keys.append("allow_root") }
        return keys
    }
}
