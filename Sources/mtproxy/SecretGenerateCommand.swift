import ArgumentParser
import EventLog
import Proxy

struct SecretGenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Print a fresh secret (16 random bytes) and its tg:// and t.me links.",
        discussion: """
        The first line is the secret in hex, ready for the `secret:` key; the next two are the links. \
        Standard error suggests its `created:` line, which `mtforensics check` dates the secret by.
        """
    )

    enum Form: String, ExpressibleByArgument, CaseIterable {
        case classic, secure, faketls
    }

    @Option(help: ArgumentHelp("The fronting domain of a fake-TLS (ee) secret.", valueName: "domain"))
    var domain: String?

    @Option(help: ArgumentHelp("classic (32 hex), secure (dd) or faketls (ee). Default: faketls with --domain, else secure.", valueName: "form"))
    var form: Form?

    @Option(help: ArgumentHelp("Host name or address clients dial. Default: this machine's host name.", valueName: "host"))
    var server: String?

    @Option(help: ArgumentHelp("Port clients dial.", valueName: "port"))
    var port: Int = 443

    func validate() throws {
        if form == .faketls && domain == nil {
            throw ValidationError("--form faketls needs --domain (the site the proxy pretends to be)")
        }
        if let form, form != .faketls, domain != nil {
            throw ValidationError("--domain applies only to --form faketls")
        }
        guard (1...65_535).contains(port) else { throw ValidationError("--port must be between 1 and 65535") }
    }

    func run() throws {
        let chosen: ProxySecret.Form = switch form ?? (domain == nil ? .secure : .faketls) {
        case .classic: .classic
        case .secure: .secure
        case .faketls: .faketls
        }
        let secret: ProxySecret
        do {
            secret = try ProxySecret.generate(name: "generated", form: chosen, domain: domain)
        } catch {
            printError("error: --domain: \(error)")
            throw ExitCode.failure
        }
        let host = server ?? hostName()
        let link = ProxyLink(server: host, port: port, secret: secret)
        print(secret.hexText)
        print(link.telegramURL)
        print(link.webURL)
        let now = Event.nowMilliseconds()
        printError("note: add `created: \(RetirementTime.format(milliseconds: now - now % 1000))` beside `secret:` so that `mtforensics check` can date the secret")
        if server == nil {
            printError("note: the links name this machine (\(host)); give --server with the name or address clients dial")
        }
    }

    private func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

#if canImport(Glibc)
import Glibc
#endif
