import ArgumentParser
import Forensics

@main
struct MTForensics: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mtforensics",
        abstract: "Evidence snapshots, verification, timelines and runbooks (not implemented yet).",
        version: ForensicsLibrary.version
    )

    mutating func run() throws {
        throw ValidationError("mtforensics is not implemented yet: see the \"mtforensics\" issue")
    }
}
