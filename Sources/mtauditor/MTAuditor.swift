import ArgumentParser
import Auditor

@main
struct MTAuditor: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mtauditor",
        abstract: "Watches mtproxy's events, detects abuse, blocks offenders.",
        version: AuditorLibrary.version,
        subcommands: [Replay.self, Report.self, Run.self, CheckConfig.self, Decisions.self]
    )
}
