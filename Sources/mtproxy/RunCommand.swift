import ArgumentParser
import EventLog
import Logging
import Proxy
import ServiceLifecycle
import UnixSignals

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the proxy until SIGTERM or SIGINT.",
        discussion: """
        SIGHUP re-reads the configuration (secrets, limits, fronting, DCs, blocklist path), \
        reloads the blocklist and reopens the event file; a bad file is refused and the \
        running configuration stays in force.
        """
    )

    @OptionGroup var options: ConfigOption

    @Flag(help: "Keep running as root when the configuration names no user (as allow_root: true).")
    var allowRoot = false

    @Option(help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "level"))
    var logLevel = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
        }
    }

    func run() throws {
        var configuration = try options.load()
        configuration.allowRoot = configuration.allowRoot || allowRoot
        try Self.exitOnFailure { () throws(PrivilegeDrop.Failure) in
            try PrivilegeDrop.checkPolicy(user: configuration.user, allowRoot: configuration.allowRoot)
        }
        let level = Logger.Level(rawValue: logLevel) ?? .info
        let path = options.config
        let loaded = configuration
        try MainThread.wait {
            try await Self.serve(configuration: loaded, path: path, level: level)
        }
    }

    private static func serve(configuration: ProxyConfiguration, path: String, level: Logger.Level) async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "mtproxy")
        let now: @Sendable () -> Int64 = BlocklistStore.wallClock
        let hasher = IPHasher()
        let events: any EventSink = DiscardingEventSink()

        let blocklist = BlocklistStore(hasher: hasher, now: now)
        let watcher = BlocklistWatcher(path: configuration.blocklistPath, store: blocklist, events: events,
                                       instance: configuration.instance, logger: logger, now: now)
        watcher.reload()

        if let user = configuration.user {
            try exitOnFailure { () throws(PrivilegeDrop.Failure) in try PrivilegeDrop.drop(to: user) }
            logger.info("privileges dropped", metadata: ["user": "\(user)"])
        }

        let reloader = ConfigurationReloader(
            path: path, configuration: configuration,
            triggers: await UnixSignalsSequence(trapping: .sighup),
            events: events, logger: logger, now: now,
            apply: { configuration in
                watcher.update(path: configuration.blocklistPath)
            })

        events.emit(Event(timestampMilliseconds: now(), action: .proxyStarted, outcome: .success,
                          instance: configuration.instance, message: "proxy started",
                          labels: ["listen": configuration.listen.joined(separator: ","),
                                   "secrets": "\(configuration.secrets.count)"]))
        logger.info("proxy started", metadata: ["listen": "\(configuration.listen.joined(separator: ","))"])
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [
                .init(service: watcher),
                .init(service: reloader),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
        events.emit(Event(timestampMilliseconds: now(), action: .proxyStopped, outcome: .success,
                          instance: reloader.configuration.instance, message: "proxy stopped"))
        logger.info("proxy stopped")
    }

    /// Runs `body`; a failure is printed as `error: …` and ends the process with status 1.
    private static func exitOnFailure<Failure: Error>(_ body: () throws(Failure) -> Void) throws {
        do {
            try body()
        } catch {
            printError("error: \(error)")
            throw ExitCode.failure
        }
    }
}
