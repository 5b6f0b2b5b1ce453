import ArgumentParser
import Auditor
import ConfigFile
import Dispatch
import EventLog
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

extension MTAuditor {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The daemon: tail event files, detect, block, until SIGTERM or SIGINT.",
            discussion: """
            SIGTERM drains: events already read are processed, decisions reach the blockers, \
            tail positions are saved. SIGHUP reloads the rule directory; a directory with any \
            error is refused and the previous rules stay in force.
            """
        )

        @OptionGroup var options: ConfigOption

        @Option(help: ArgumentHelp("trace, debug, info, notice, warning, error or critical.", valueName: "level"))
        var logLevel = "info"

        func validate() throws {
            guard Logger.Level(rawValue: logLevel) != nil else {
                throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical")
            }
        }

        func run() throws {
            let configuration = try options.load()
            let rules: [Rule]
            do {
                rules = try RuleDirectory.load(path: configuration.rules)
            } catch {
                printError("error: \(error.description)")
                throw ExitCode.failure
            }
            let level = Logger.Level(rawValue: logLevel) ?? .info
            let outcome = Mutex<Result<Void, any Error>>(.success(()))
            let done = DispatchSemaphore(value: 0)
            Task.detached {
                do {
                    try await Self.serve(configuration: configuration, rules: rules, level: level)
                } catch {
                    outcome.withLock { $0 = .failure(error) }
                }
                done.signal()
            }
            done.wait()
            try outcome.withLock { $0 }.get()
        }

        private static func serve(configuration: AuditorConfiguration, rules: [Rule], level: Logger.Level) async throws {
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
            let logger = Logger(label: "mtauditor")
            let metrics = AuditorMetrics()
            let daemon = AuditorDaemon(configuration: configuration, logger: logger, metrics: metrics)
            let pipeline: AuditorPipeline
            do {
                pipeline = try daemon.makePipeline(rules: rules)
            } catch {
                printError("error: \(error)")
                throw ExitCode.failure
            }

            var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
            if let listen = configuration.metricsListen {
                let server = MetricsServer(host: listen.host, port: listen.port, metrics: metrics, logger: logger)
                do {
                    try await server.start()
                } catch {
                    printError("error: metrics.listen: \(listen): cannot bind: \(error)")
                    throw ExitCode.failure
                }
                services.append(.init(service: server))
            }
            let auditor = AuditorService(pipeline: pipeline, reloadTriggers: await UnixSignalsSequence(trapping: .sighup),
                                         logger: logger)
            // The auditor stops first (it drains), then the metrics listener.
            services.append(.init(service: auditor, successTerminationBehavior: .gracefullyShutdownGroup))
            logger.info("auditor started", metadata: [
                "sources": "\(configuration.sources.joined(separator: ","))", "rules": "\(rules.count)",
                "simulation": "\(configuration.simulation)",
            ])
            let group = ServiceGroup(configuration: ServiceGroupConfiguration(
                services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
        }
    }

    struct CheckConfig: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check-config",
            abstract: "Validate a configuration file and its rule directory: print OK, or every problem with file:line: key."
        )

        @OptionGroup var options: ConfigOption

        func run() throws {
            var problems = AuditorConfiguration.problems(path: options.config).map(\.description)
            var ruleCount = 0
            if problems.isEmpty, let configuration = try? AuditorConfiguration.load(path: options.config) {
                do {
                    ruleCount = try RuleDirectory.load(path: configuration.rules).count
                } catch {
                    problems += error.description.split(separator: "\n").map(String.init)
                }
            }
            guard problems.isEmpty else {
                for problem in problems { printError("error: \(problem)") }
                throw ExitCode.failure
            }
            let configuration = try options.load()
            print("OK: \(options.config): \(configuration.sources.count) source(s), \(ruleCount) rule(s), "
                  + "\(configuration.blockers.count) blocker(s)\(configuration.simulation ? ", simulation" : "")")
        }
    }
}

/// `--config FILE`, shared by the subcommands that read the configuration.
struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The auditor's YAML configuration file.", valueName: "file"))
    var config: String

    /// Loads the file; on a problem prints `error: file:line: key: message` and exits 1.
    func load() throws -> AuditorConfiguration {
        do {
            return try AuditorConfiguration.load(path: config)
        } catch {
            printError("error: \(error)")
            throw ExitCode.failure
        }
    }
}
