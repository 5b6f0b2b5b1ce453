import ArgumentParser
import Proxy

struct LinkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "link",
        abstract: "Print the tg:// and t.me links of every configured secret."
    )

    @OptionGroup var options: ConfigOption

    @Option(help: ArgumentHelp("Host name or address clients dial. Default: public_host, else the first non-wildcard listen address.", valueName: "host"))
    var server: String?

    @Option(help: ArgumentHelp("Port clients dial. Default: public_port, else the first listen port.", valueName: "port"))
    var port: Int?

    func run() throws {
        let configuration = try options.load()
        let links: [ProxyLink]
        do {
            links = try ProxyLink.links(for: configuration, file: options.config, server: server, port: port)
        } catch {
            printError("error: \(error)")
            throw ExitCode.failure
        }
        for link in links {
            if let retiresAt = link.secret.retiresAtMilliseconds {
                print("\(link.secret.name) (\(link.secret.form.rawValue), retiring at \(RetirementTime.format(milliseconds: retiresAt)): do not share)")
            } else {
                print("\(link.secret.name) (\(link.secret.form.rawValue))")
            }
            print("  \(link.telegramURL)")
            print("  \(link.webURL)")
        }
    }
}
