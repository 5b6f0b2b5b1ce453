import ArgumentParser
import Proxy

@main
struct MTProxy: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mtproxy",
        abstract: "An MTProto proxy for Telegram: classic, dd and ee (fake-TLS) secrets.",
        version: ProxyLibrary.version,
        subcommands: []
    )
}
