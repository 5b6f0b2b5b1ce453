import ArgumentParser
import Proxy

struct CheckConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration file: print OK, or every problem with file:line: key."
    )

    @OptionGroup var options: ConfigOption

    func run() throws {
        let problems = ProxyConfiguration.problems(path: options.config)
        guard problems.isEmpty else {
            for problem in problems { printError("error: \(problem)") }
            throw ExitCode.failure
        }
        let configuration = try options.load()
        print("OK: \(options.config): \(configuration.secrets.count) secret(s), \(configuration.listen.count) listen address(es)")
    }
}
