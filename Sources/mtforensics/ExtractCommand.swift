import ArgumentParser
import Forensics

struct ExtractCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "extract",
        abstract: "Extract files from an archive, each only if it matches the manifest.",
        discussion: "The exit status follows verify's: 0 when every requested file was extracted and matched."
    )

    @Argument(help: "The .tar.lz4 or .tar.gz archive.")
    var archive: String

    @Argument(help: "Paths inside the archive to extract (default: all).")
    var files: [String] = []

    @Option(help: "Directory to extract into (created if absent; existing files are never overwritten).")
    var to: String = "."

    func run() throws {
        try reporting {
            let report: ArchiveExtractor.Report
            do {
                report = try ArchiveExtractor.extract(archivePath: archive, into: to, only: files.isEmpty ? nil : Set(files))
            } catch {
                throw CLIFailure(message: "\(error)", status: 1)
            }
            for path in report.extracted { print(path) }
            for finding in report.findings { printError("FAILED \(finding)") }
            if report.exitStatus != 0 { throw ExitCode(report.exitStatus) }
        }
    }
}
