import ArgumentParser
import Forensics

@main
struct MTForensics: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mtforensics",
        abstract: "Evidence snapshots, verification, timelines and runbooks for mtshield.",
        version: ForensicsLibrary.version,
        subcommands: [SnapshotCommand.self, VerifyCommand.self, ListCommand.self, ExtractCommand.self,
                      TimelineCommand.self, RunbookCommand.self, BackupCommand.self, RestoreCommand.self,
                      SecurityCheckCommand.self]
    )
}
