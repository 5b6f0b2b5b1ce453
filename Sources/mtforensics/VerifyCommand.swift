import ArgumentParser
import Forensics

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check an archive: its sidecar hash, its frame checksums, every file against the manifest.",
        discussion: """
        Prints one line per problem, naming the file it concerns. The exit status is 0 when
        everything matches, 1 when the archive cannot be read at all, and otherwise the sum
        of: 2 the sidecar hash, 4 the container (checksums, truncation, tar structure),
        8 the manifest or custody record, 16 files that differ, are missing or are unlisted.
        """
    )

    @Argument(help: "The .tar.lz4 or .tar.gz archive.")
    var archive: String

    func run() throws {
        try reporting {
            let report: VerificationReport
            do {
                report = try ArchiveVerifier.verify(archivePath: archive)
            } catch {
                throw CLIFailure(message: "\(error)", status: 1)
            }
            for finding in report.findings {
                print("FAILED \(finding)")
            }
            if report.isVerified {
                print("verified \(report.archivePath): \(report.filesVerified.count) files match the manifest, sha256 \(report.archiveSHA256 ?? "?")")
            } else {
                print("NOT VERIFIED \(report.archivePath): \(report.findings.count) problems, \(report.filesVerified.count) files match")
                throw ExitCode(report.exitStatus)
            }
        }
    }
}
