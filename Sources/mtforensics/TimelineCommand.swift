import ArgumentParser

struct TimelineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "timeline",
        abstract: "Build a timeline from an archive's events (not implemented yet)."
    )

    func run() throws {
        try reporting {
            throw CLIFailure(message: "timeline is not implemented yet (see the mtforensics issue)", status: 2)
        }
    }
}
