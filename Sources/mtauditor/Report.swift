#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import Auditor

extension MTAuditor {
    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Summarize a period: alerts, rules fired, bans and top offenders.",
            discussion: """
            Alerts are read from the reports directory (one JSON report per alert, as the daemon \
            and `replay --reports` write them); bans are those the reports record.
            """
        )

        @Option(help: "How far back: 30m, 24h, 7d.")
        var since = "24h"

        @Option(help: "The reports directory.")
        var reports = "/var/lib/mtshield/reports"

        @Flag(help: "Print one JSON object instead of text.")
        var json = false

        func run() throws {
            var clock = timespec()
            clock_gettime(CLOCK_REALTIME, &clock)
            let now = Int64(clock.tv_sec) * 1000 + Int64(clock.tv_nsec) / 1_000_000
            let summary: ReportSummary
            do {
                summary = try ReportSummary.load(directory: reports, since: now - ReportSummary.period(since), now: now)
            } catch {
                printError(error.description)
                throw ExitCode(1)
            }
            var output = OutputBuffer()
            output.write(json ? summary.json : String(summary.text.dropLast()))
            output.flush()
            for problem in summary.unreadable where json { printError("unreadable: \(problem)") }
        }
    }
}
