import ArgumentParser

struct SecretCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secret",
        abstract: "Make secrets.",
        subcommands: [SecretGenerateCommand.self]
    )
}
