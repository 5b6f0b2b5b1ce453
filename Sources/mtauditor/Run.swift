import ArgumentParser

extension MTAuditor {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The daemon: tail event files, detect, block (not implemented yet)."
        )

        @Option(help: "The auditor configuration file.")
        var config: String

        func run() throws {
            printError("mtauditor run is not implemented yet (the daemon comes with the decisions store and blockers); "
                       + "use `mtauditor replay --rules DIR FILE…` to run rules over recorded events")
            throw ExitCode(1)
        }
    }
}
