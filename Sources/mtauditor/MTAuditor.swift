import ArgumentParser
import Auditor

@main
struct MTAuditor: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mtauditor",
        abstract: "Watches mtproxy's events, detects abuse, blocks offenders (not implemented yet).",
        version: AuditorLibrary.version
    )

    mutating func run() throws {
        throw ValidationError("mtauditor is not implemented yet: see the \"mtauditor\" issue")
    }
}
