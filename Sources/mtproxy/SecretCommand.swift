import ArgumentParser

struct SecretCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secret",
        abstract: "Make, rotate and prune secrets.",
        subcommands: [SecretGenerateCommand.self, SecretRotateCommand.self, SecretPruneCommand.self]
    )
}
