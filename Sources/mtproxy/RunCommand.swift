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
        let now: @Sendable () -> Int64 = Event.nowMilliseconds
        // One hasher for events and the blocklist: an ip_hash the auditor read in an
        // event matches the one computed at accept time (the same day).
        let hasher = IPHasher()
        let stats = ProxyStats(startedAtMilliseconds: now())

        let writer: EventWriter?
        do {
            writer = try configuration.events.path.map { eventsPath in
                try EventWriter(destination: EventWriter.Destination(path: eventsPath),
                                privacy: PrivacyPolicy(mode: configuration.events.privacy, hasher: hasher),
                                queueCapacity: configuration.events.queueCapacity, instance: configuration.instance,
                                logger: logger, now: now, onDrop: { stats.eventsDropped($0) })
            }
        } catch {
            printError("error: \(path): events.path: \(error)")
            throw ExitCode.failure
        }
        let events: any EventSink = writer ?? DiscardingEventSink()

        let blocklist = BlocklistStore(hasher: hasher, now: now)
        let watcher = BlocklistWatcher(path: configuration.blocklistPath, store: blocklist, events: events,
                                       instance: configuration.instance, logger: logger, now: now)
        watcher.reload()

        // Retiring secrets leave service at their retires_at (SecretRetirement below).
        let proxy = ProxyService(configuration: configuration.inForce(atMilliseconds: now()), blocklist: blocklist,
                                 events: events, stats: stats, logger: logger)
        do {
            try await proxy.bind()
        } catch {
            printError("error: \(path): \(error)")
            writer?.shutdown()
            throw ExitCode.failure
        }

        var statsServer: StatsServer?
        if let listen = configuration.stats.listen,
           let endpoint = try? HostAndPort.parse(listen, allowName: false, allowAnyPort: true).get() {
            let server = StatsServer(listen: endpoint, stats: stats, logger: logger,
                                     blocklist: blocklist, process: { ProcessUsage.current() })
            do {
                try await server.start()
            } catch {
                printError("error: \(path): stats.listen: \(listen): cannot bind: \(error)")
                writer?.shutdown()
                throw ExitCode.failure
            }
            statsServer = server
        }

        if let user = configuration.user {
            try exitOnFailure { () throws(PrivilegeDrop.Failure) in try PrivilegeDrop.drop(to: user) }
            logger.info("privileges dropped", metadata: ["user": "\(user)"])
        }

        let reloader = ConfigurationReloader(
            path: path, configuration: configuration,
            triggers: await UnixSignalsSequence(trapping: .sighup),
            events: events, logger: logger, now: now,
            beforeReload: { writer?.reopen() },
            apply: { configuration in
                proxy.update(configuration: configuration.inForce(atMilliseconds: now()))
                watcher.update(path: configuration.blocklistPath)
            })
        let retirement = SecretRetirement(
            configuration: { reloader.configuration }, events: events, logger: logger, now: now,
            apply: { configuration in proxy.update(configuration: configuration.inForce(atMilliseconds: now())) })

        logger.info("proxy started", metadata: ["listen": "\(configuration.listen.joined(separator: ","))"])
        // Shutdown runs in reverse: reloads stop, the proxy drains, the counters stay
        // readable and the blocklist in force until the last session is gone.
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(
            services: [.init(service: watcher)]
                + (statsServer.map { [ServiceGroupConfiguration.ServiceConfiguration(service: $0)] } ?? [])
                + [.init(service: proxy), .init(service: reloader), .init(service: retirement)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
        writer?.shutdown()
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
