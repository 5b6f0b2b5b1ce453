import ArgumentParser

struct SecretCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "secret",
        abstract: "Make secrets.",
        subcommands: [SecretGenerateCommand.self]
    )
}
