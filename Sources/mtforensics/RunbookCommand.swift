import ArgumentParser

struct RunbookCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runbook",
        abstract: "Drive an incident-response runbook (not implemented yet)."
    )

    func run() throws {
        try reporting {
            throw CLIFailure(message: "runbook is not implemented yet (see the mtforensics issue)", status: 2)
        }
    }
}
