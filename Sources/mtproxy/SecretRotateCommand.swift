import ArgumentParser
import ConfigFile
import EventLog
import Proxy

struct SecretRotateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Replace a secret by a new one; the old one keeps working for a grace period.",
        discussion: """
        The new secret (same form and fronting domain) takes the old one's name; the old one \
        is renamed NAME.retiring-YYYYmmdd-HHMMSS and gets retires_at: now + the grace period \
        (rotation.grace, default 24h). The proxy accepts both until then and only the new one \
        after, without a reload. Entries whose retires_at has passed are removed. The file \
        is edited in place, comments kept, and replaced atomically (same owner and mode). \
        Then send the running proxy SIGHUP (`make reload`); it logs `secret.rotated`. \
        Prints the new links; the secret itself appears only in them and in the file.
        """
    )

    @OptionGroup var options: ConfigOption

    @Option(help: ArgumentHelp("The secret to rotate. Default: the only one in service.", valueName: "name"))
    var name: String?

    @Option(help: ArgumentHelp("How long the old secret keeps working, e.g. 24h. Default: rotation.grace.", valueName: "duration"))
    var grace: String?

    @Option(help: ArgumentHelp("Host name or address clients dial, for the links. Default: public_host.", valueName: "host"))
    var server: String?

    func validate() throws {
        if let grace {
            guard let duration = ConfigText.duration(grace), duration >= .seconds(1), duration <= .seconds(90 * 86_400) else {
                throw ValidationError("--grace must be a duration between 1s and 90d, such as 30m, 24h or 7d")
            }
        }
    }

    func run() throws {
        let path = options.config
        let now = Event.nowMilliseconds()
        let rotated: SecretRotation.Rotated
        do {
            let text = try ConfigDocument.readText(path: path)
            rotated = try SecretRotation.rotate(text: text, file: path, name: name,
                                                grace: grace.flatMap(ConfigText.duration).map(ConfigText.milliseconds),
                                                nowMilliseconds: now)
            try ConfigurationFile.replace(path: path, with: rotated.text)
        } catch {
            printError("error: \(error)")
            throw ExitCode.failure
        }
        for name in rotated.removed {
            print("removed \(name): its retires_at had passed")
        }
        print("rotated \(rotated.secret.name): the old secret is now \(rotated.retiring.name), accepted until \(RetirementTime.format(milliseconds: rotated.retiring.retiresAtMilliseconds ?? now))")
        do {
            let configuration = try ProxyConfiguration.load(path: path)
            var current = configuration
            current.secrets = configuration.secrets.filter { $0.name == rotated.secret.name }
            for link in try ProxyLink.links(for: current, file: path, server: server) {
                print("\(link.secret.name) (\(link.secret.form.rawValue))")
                print("  \(link.telegramURL)")
                print("  \(link.webURL)")
            }
        } catch {
            printError("note: no links: \(error)")
        }
        print("send the running proxy SIGHUP to use it (make reload, or kill -HUP <pid>)")
    }
}

struct SecretPruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract: "Remove the secrets whose retires_at has passed from the configuration file.",
        discussion: "The proxy already refuses them; this tidies the file (edited in place, comments kept, replaced atomically)."
    )

    @OptionGroup var options: ConfigOption

    func run() throws {
        let path = options.config
        do {
            let text = try ConfigDocument.readText(path: path)
            let pruned = try SecretRotation.prune(text: text, file: path, nowMilliseconds: Event.nowMilliseconds())
            if pruned.removed.isEmpty {
                print("nothing to remove")
                return
            }
            try ConfigurationFile.replace(path: path, with: pruned.text)
            for name in pruned.removed { print("removed \(name)") }
        } catch {
            printError("error: \(error)")
            throw ExitCode.failure
        }
    }
}
