import ArgumentParser
import ConfigFile
import Foundation
import Proxy

@main
struct MTProxy: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mtproxy",
        abstract: "An MTProto proxy for Telegram: classic, dd and ee (fake-TLS) secrets.",
        version: ProxyLibrary.version,
        subcommands: [RunCommand.self, SecretCommand.self, LinkCommand.self, CheckConfigCommand.self,
                      MonitorCommand.self, LogsCommand.self]
    )
}

/// `--config FILE`, shared by the subcommands that read the configuration.
struct ConfigOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The YAML configuration file.", valueName: "file"))
    var config: String

    /// Loads the file; on a problem prints `error: file:line: key: message` and exits 1.
    func load() throws -> ProxyConfiguration {
        do {
            return try ProxyConfiguration.load(path: config)
        } catch {
            printError("error: \(error)")
            throw ExitCode.failure
        }
    }
}

/// Writes a line to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
