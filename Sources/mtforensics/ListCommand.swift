import ArgumentParser
import Forensics

struct ListCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List an archive's files with their sizes and the manifest's hashes."
    )

    @Argument(help: "The .tar.lz4 or .tar.gz archive.")
    var archive: String

    func run() throws {
        try reporting {
            let listing: ArchiveLister.Listing
            do {
                listing = try ArchiveLister.list(archivePath: archive)
            } catch {
                throw CLIFailure(message: "\(error)", status: 1)
            }
            for entry in listing.entries {
                print("\(String(entry.size).padding(12))\(entry.sha256 ?? String(repeating: "-", count: 64))  \(entry.path)")
            }
            if let damage = listing.damage {
                throw CLIFailure(message: "listing stopped: \(damage)", status: 4)
            }
        }
    }
}
