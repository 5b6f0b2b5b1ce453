#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import Auditor

extension MTAuditor {
    struct Replay: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run rules over recorded events in event time; print alerts and decisions as JSON Lines.",
            discussion: """
            Files are merged by timestamp; `-` reads standard input. Malformed lines are reported on \
            standard error (file:line: field: why) and skipped. Nothing is enforced.
            """
        )

        @Option(help: "Directory of rule files (*.yaml).")
        var rules: String

        @Flag(help: "Also print one {\"type\":\"match\"} line for each event a rule counted.")
        var explain = false

        @Flag(help: "Mark decisions as simulated, as `simulation: true` does in the daemon.")
        var simulation = false

        @Option(name: .customLong("allowlist"), help: "An address or network never decided against (repeatable).")
        var allowlist: [String] = []

        @Option(help: "Also write a report (JSON, Markdown, HTML) for every alert into this directory.")
        var reports: String?

        @Argument(help: "Event files (JSON Lines); `-` for standard input.")
        var files: [String]

        func validate() throws {
            if files.isEmpty { throw ValidationError("name at least one event file (or - for standard input)") }
        }

        func run() throws {
            let loadedRules: [Rule]
            let engine: RuleEngine
            do {
                loadedRules = try RuleDirectory.load(path: rules)
                engine = RuleEngine(rules: loadedRules, allowlist: try DecisionBook.allowlist(allowlist),
                                    simulation: simulation, explain: explain)
            } catch {
                printError(error.description)
                throw ExitCode(2)
            }
            var output = OutputBuffer()
            let summary: Auditor.Replay.Summary
            do {
                summary = try Auditor.Replay(engine: engine, reports: reports.map(AlertReportWriter.init(directory:))).run(paths: files, writing: { output.write(taking: &$0) }, malformed: { error in
                    printError(error.description)
                })
            } catch {
                output.flush()
                printError(error.description)
                throw ExitCode(1)
            }
            output.flush()
            printError("replayed \(summary.events) events with \(loadedRules.count) rules: \(summary.alerts) alerts, "
                       + "\(summary.decisions) decisions, \(summary.malformed) malformed lines skipped"
                       + (reports.map { ", \(summary.reports) reports written to \($0)" } ?? ""))
        }
    }
}

/// Standard output written in large blocks: replay prints many short lines.
struct OutputBuffer {
    private var bytes: [UInt8] = []

    mutating func write(_ line: String) {
        bytes.append(contentsOf: line.utf8)
        bytes.append(0x0A)
        if bytes.count >= 1 << 16 { flush() }
    }

    /// Writes `block` (whole lines) after what is buffered, and empties it.
    mutating func write(taking block: inout [UInt8]) {
        if bytes.isEmpty { swap(&bytes, &block) } else { bytes.append(contentsOf: block) }
        block.removeAll(keepingCapacity: true)
        flush()
    }

    mutating func flush() {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { writeToDescriptor(1, $0) }
            if written <= 0 { if errno == EINTR { continue } else { break } }
            offset += written
        }
        bytes.removeAll(keepingCapacity: true)
    }
}

func printError(_ message: String) {
    var text = message + "\n"
    text.withUTF8 { bytes in _ = writeToDescriptor(2, UnsafeRawBufferPointer(bytes)) }
}

private func writeToDescriptor(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Int {
    write(descriptor, bytes.baseAddress, bytes.count)
}
