import ArgumentParser
import Forensics

struct BackupCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Back up the proxy's configuration and secrets, its blocklist and the auditor's state.",
        discussion: """
        Writes DIR/mtshield-YYYYmmdd-HHMMSS.tar.lz4 (mode 0600; UTC time) with its .sha256 \
        sidecar, and points DIR/latest at it. The archive is an evidence archive: \
        `mtforensics verify` checks it, `mtforensics restore` puts it back. It holds the \
        secrets: keep DIR private.
        """
    )

    @Option(help: ArgumentHelp("The proxy configuration; its blocklist file is backed up too.", valueName: "file"))
    var proxyConfig: String?

    @Option(help: ArgumentHelp("The auditor configuration; its state file is backed up too.", valueName: "file"))
    var auditorConfig: String?

    @Option(help: ArgumentHelp("Another file to back up (repeatable).", valueName: "file"))
    var include: [String] = []

    @Option(help: ArgumentHelp("The backup directory (created with mode 0700).", valueName: "dir"))
    var out: String = "backups"

    func run() throws {
        try reporting {
            let created: ConfigurationBackup.Created
            do {
                let sources = try ConfigurationBackup.sources(proxyConfig: proxyConfig, auditorConfig: auditorConfig,
                                                              includes: include)
                created = try ConfigurationBackup.create(sources: sources, into: out, nowMilliseconds: HostFacts.nowMilliseconds(),
                                                         commandLine: CommandLine.arguments)
            } catch {
                throw CLIFailure(message: "\(error)", status: 1)
            }
            for file in created.files { print("  \(file.role): \(file.path)") }
            for source in created.skipped { print("  \(source.role): \(source.path) does not exist; skipped") }
            print("backup \(created.archivePath): \(created.files.count) files, \(created.bytes) bytes, sha256 \(created.sha256)")
        }
    }
}

struct RestoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Put the files of a backup back, after verifying it.",
        discussion: """
        A backup that does not verify (sidecar, checksums, manifest) is refused and nothing \
        is written. Every file is first written beside its destination, and all are renamed \
        into place only once every one is ready. Then reload or restart the proxy.
        """
    )

    @Argument(help: "A backup file name in --dir or a path. Default: DIR/latest.")
    var backup: String?

    @Option(help: ArgumentHelp("The backup directory.", valueName: "dir"))
    var dir: String = "backups"

    @Option(help: ArgumentHelp("Restore under this directory instead of the original paths (to inspect).", valueName: "dir"))
    var root: String = "/"

    func run() throws {
        try reporting {
            let restored: ConfigurationBackup.Restored
            do {
                let archive = try ConfigurationBackup.resolve(backup, directory: dir)
                restored = try ConfigurationBackup.restore(archivePath: archive, root: root)
            } catch {
                throw CLIFailure(message: "\(error)", status: 1)
            }
            for path in restored.files { print("  restored \(path)") }
            print("restored \(restored.files.count) files from \(restored.archivePath)")
        }
    }
}
