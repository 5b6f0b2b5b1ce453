import ArgumentParser

@main
struct MTBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mtbench",
        abstract: "The peers of mtshield's relay benchmark: a fake Telegram DC, a load client, the result table.",
        discussion: "Benchmarks/run.sh starts the relays and calls these; see Benchmarks/README.md.",
        subcommands: [FakeDCCommand.self, LoadCommand.self, TableCommand.self])
}
