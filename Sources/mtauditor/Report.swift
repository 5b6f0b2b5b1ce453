import ArgumentParser
import Auditor
import EventLog
import Foundation

extension MTAuditor {
    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Summarize a period: alerts, rules fired, bans and top offenders.",
            discussion: """
            Alerts are read from the reports directory (one JSON report per alert, as the daemon \
            and `replay --reports` write them). Bans are read from the auditor's state store: \
            every decision in force at some time in the period, by rules and by hand (`decisions \
            add`), with the ones the reports record. With --config both places come from the \
            auditor's configuration (`reports:`, `state:`); --reports and --state override it.
            """
        )

        @Option(help: "How far back: 30m, 24h, 7d.")
        var since = "24h"

        @Option(help: ArgumentHelp("The auditor's configuration: its `reports:` and `state:` are read.", valueName: "file"))
        var config: String?

        @Option(help: ArgumentHelp("The reports directory (default: the configuration's, else \(Self.defaultReports)).",
                                   valueName: "dir"))
        var reports: String?

        @Option(help: ArgumentHelp("The auditor's state store (default: the configuration's `state:`, else \(Self.defaultState)).",
                                   valueName: "file"))
        var state: String?

        @Flag(help: "Print one JSON object instead of text.")
        var json = false

        static let defaultReports = "/var/lib/mtshield/reports"
        static let defaultState = AuditorConfiguration().state ?? ""

        func run() async throws {
            let now = Event.nowMilliseconds()
            var summary: ReportSummary
            do {
                let (reports, state) = try places()
                let since = now - (try ReportSummary.period(since))
                summary = try reports.map { directory throws(AuditorError) in
                    try ReportSummary.load(directory: directory, since: since, now: now)
                } ?? ReportSummary(since: since, now: now)
                if let state { try await summary.merge(state: state) }
            } catch {
                printError("error: \(error.description)")
                throw ExitCode(1)
            }
            var output = OutputBuffer()
            output.write(json ? summary.json : String(summary.text.dropLast()))
            output.flush()
            for problem in summary.unreadable where json { printError("unreadable: \(problem)") }
        }

        /// The reports directory and the state store to read; nil where the configuration has none.
        private func places() throws(AuditorError) -> (reports: String?, state: String?) {
            // The daemon makes its reports directory at the first alert: none yet is no alert yet.
            // One named with --reports must exist.
            let existing = { (directory: String?) in directory.flatMap { FileManager.default.fileExists(atPath: $0) ? $0 : nil } }
            guard let config else { return (reports ?? existing(Self.defaultReports), state ?? Self.defaultState) }
            let configuration: AuditorConfiguration
            do {
                configuration = try AuditorConfiguration.load(path: config)
            } catch {
                throw AuditorError.input(path: "--config", message: error.description)
            }
            return (reports ?? existing(configuration.reports), state ?? configuration.state)
        }
    }
}
