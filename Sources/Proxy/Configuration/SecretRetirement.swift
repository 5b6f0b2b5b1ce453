import EventLog
import Logging
import ServiceLifecycle
import Synchronization

/// Takes a rotated-out secret out of service at its `retires_at`, without a reload: at
/// that moment it hands the configuration to `apply` again (which puts in force what
/// `ProxyConfiguration.inForce(atMilliseconds:)` keeps) and emits `secret.retired`.
/// It wakes at the next `retires_at`, and at least once a second to see reloads.
public final class SecretRetirement: Service, Sendable {
    private let configuration: @Sendable () -> ProxyConfiguration
    private let events: any EventSink
    private let logger: Logger
    private let now: @Sendable () -> Int64
    private let apply: @Sendable (ProxyConfiguration) async -> Void
    /// Keys already retired (or already past their time when the proxy started).
    private let retired: Mutex<Set<[UInt8]>>

    /// - Parameters:
    ///   - configuration: the configuration in force, retiring secrets included (the reloader's).
    ///   - apply: puts a configuration in force; called with the whole configuration.
    public init(configuration: @escaping @Sendable () -> ProxyConfiguration, events: any EventSink, logger: Logger,
                now: @escaping @Sendable () -> Int64, apply: @escaping @Sendable (ProxyConfiguration) async -> Void) {
        self.configuration = configuration
        self.events = events
        self.logger = logger
        self.now = now
        self.apply = apply
        let start = now()
        self.retired = Mutex(Set(Self.due(configuration(), atMilliseconds: start, except: []).map(\.key)))
    }

    /// Secrets whose `retires_at` is at or before `now` and whose key is not in `except`.
    static func due(_ configuration: ProxyConfiguration, atMilliseconds now: Int64, except: Set<[UInt8]>) -> [ProxySecret] {
        configuration.secrets.filter { secret in
            guard let retiresAt = secret.retiresAtMilliseconds else { return false }
            return retiresAt <= now && !except.contains(secret.key)
        }
    }

    /// Retires what is due now; returns the secrets it retired.
    @discardableResult
    public func retireDue() async -> [ProxySecret] {
        let current = configuration()
        let moment = now()
        let due = retired.withLock { Self.due(current, atMilliseconds: moment, except: $0) }
        guard !due.isEmpty else { return [] }
        await apply(current)
        retired.withLock { $0.formUnion(due.map(\.key)) }
        for secret in due {
            logger.notice("secret retired", metadata: ["mt.secret": "\(secret.name)"])
            events.emit(Event(timestampMilliseconds: moment, action: .secretRetired, outcome: .success,
                              instance: current.instance, secretName: secret.name, message: "secret retired"))
        }
        return due
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            await retireDue()
            let moment = now()
            let wait = configuration().nextRetirement(afterMilliseconds: moment).map { min(1000, $0 - moment) } ?? 1000
            try? await cancelWhenGracefulShutdown {
                try await Task.sleep(for: .milliseconds(max(1, wait)))
            }
        }
    }
}
