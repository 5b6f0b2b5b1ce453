import ArgumentParser
import ConfigFile
import Forensics
import Foundation
#if canImport(Glibc)
import Glibc
#endif

struct RunbookCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "runbook",
        abstract: "Walk an incident-response runbook or checklist, recorded in a hash-chained journal.",
        discussion: """
        Incidents live in --state (default $MTSHIELD_INCIDENTS, else /var/lib/mtshield/incidents),
        one folder each: journal.jsonl, runbook.yaml (the runbook as it was at the start) and
        evidence/. Runbooks are read from --runbooks (default $MTSHIELD_RUNBOOKS, else
        /etc/mtshield/runbooks when it exists, else the runbooks/ folder of the source tree the
        binary was built in, else ./runbooks).

        Exit statuses: 0 done; 1 an error (unreadable or damaged journal, I/O); 2 bad usage;
        3 the next step waits for the operator (no terminal); 4 a step failed and the run
        stopped; 5 refused (destructive step before a snapshot, changed runbook, out of order);
        6 verify found problems.
        """,
        subcommands: [RunbookList.self, RunbookStart.self, RunbookStatus.self, RunbookNext.self,
                      RunbookDone.self, RunbookSkip.self, RunbookReport.self, RunbookVerify.self]
    )
}

/// Exit statuses of the runbook subcommands.
enum RunbookExit {
    static let waitingForOperator: Int32 = 3
    static let stepFailed: Int32 = 4
    static let refused: Int32 = 5
    static let notVerified: Int32 = 6

    static func failure(_ error: ForensicsError) -> CLIFailure {
        switch error {
        case .refused: CLIFailure(message: error.description, status: refused)
        case .usage: CLIFailure(message: error.description, status: 2)
        default: CLIFailure(message: error.description, status: 1)
        }
    }
}

struct RunbookOptions: ParsableArguments {
    @Option(help: "Where incidents live (default: $MTSHIELD_INCIDENTS, else /var/lib/mtshield/incidents).")
    var state: String?

    @Option(help: "Where runbooks are read from (default: $MTSHIELD_RUNBOOKS, /etc/mtshield/runbooks, the source tree's runbooks/, ./runbooks).")
    var runbooks: String?

    @Option(name: .customLong("operator"), help: "Who acts (default: the user behind sudo, or the login).")
    var operatorName: String?

    var stateDirectory: String {
        state ?? ProcessEnvironment.current["MTSHIELD_INCIDENTS"] ?? "/var/lib/mtshield/incidents"
    }

    var runbookDirectory: String {
        if let runbooks { return runbooks }
        if let fromEnvironment = ProcessEnvironment.current["MTSHIELD_RUNBOOKS"] { return fromEnvironment }
        if isDirectory("/etc/mtshield/runbooks") { return "/etc/mtshield/runbooks" }
        var folder = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        while folder.path != "/" && !folder.path.isEmpty {
            if access(folder.path + "/Package.swift", F_OK) == 0 && isDirectory(folder.path + "/runbooks") {
                return folder.path + "/runbooks"
            }
            folder = folder.deletingLastPathComponent()
        }
        return "runbooks"
    }

    func environment() -> RunbookEnvironment {
        RunbookEnvironment(stateDirectory: stateDirectory,
                           actor: operatorName ?? HostFacts.operatorName(environment: ProcessEnvironment.current),
                           checklist: ChecklistOfThisBuild())
    }

    private func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }
}

/// Runs a body whose ForensicsError becomes the matching exit status.
func runbookReporting(_ body: () throws -> Void) throws {
    try reporting {
        do {
            try body()
        } catch let error as ForensicsError {
            throw RunbookExit.failure(error)
        }
    }
}

struct RunbookList: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the runbooks and the incidents.")

    @OptionGroup var options: RunbookOptions

    func run() throws {
        try runbookReporting {
            let collection = try RunbookCollection.load(directory: options.runbookDirectory)
            print("Runbooks in \(collection.directory):")
            for runbook in collection.runbooks {
                print("  \(runbook.id.padding(28))\(runbook.title) (\(runbook.steps.count) steps, version \(runbook.version))")
            }
            for error in collection.errors { printError("mtforensics: \(error)") }
            let incidents = IncidentRecord.list(stateDirectory: options.stateDirectory)
            print("Incidents in \(options.stateDirectory):" + (incidents.isEmpty ? " none" : ""))
            for id in incidents {
                if let record = try? IncidentRecord.load(id, stateDirectory: options.stateDirectory) {
                    print("  \(id.padding(28))\(progressLine(record))")
                }
            }
            if !collection.errors.isEmpty {
                throw ForensicsError.configuration(collection.errors[0])
            }
        }
    }
}

func progressLine(_ record: IncidentRecord) -> String {
    let runbook = record.started?.runbook?.id ?? "?"
    guard let progress = record.progress else { return "\(runbook): \(record.runbookProblem ?? "unreadable")" }
    let done = progress.steps.count { $0.state.isResolved }
    let next = progress.current.map { "next: \($0.step.id)" } ?? "complete"
    return "\(runbook): \(done)/\(progress.steps.count) steps resolved, \(next)"
}

struct RunbookStart: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start", abstract: "Open an incident with a runbook (by id, or a path to a .yaml file).")

    @Argument(help: "The runbook's id (see `runbook list`) or its file.")
    var runbook: String

    @Option(help: "The incident's id: letters, digits, '.', '_' and '-'.")
    var incident: String

    @Option(name: .customLong("proxy-config"), help: "The mtproxy configuration, for snapshot and check steps and {{proxy_config}}.")
    var proxyConfig: String?

    @Option(name: .customLong("auditor-config"), help: "The mtauditor configuration, for snapshot and check steps and {{auditor_config}}.")
    var auditorConfig: String?

    @OptionGroup var options: RunbookOptions

    func run() throws {
        try runbookReporting {
            let loaded = try RunbookCollection.find(runbook, in: options.runbookDirectory)
            var parameters: [String: String] = [:]
            parameters["proxy_config"] = proxyConfig.map(absolute) ?? existing("/etc/mtshield/mtproxy.yaml")
            parameters["auditor_config"] = auditorConfig.map(absolute) ?? existing("/etc/mtshield/mtauditor.yaml")
            let incident = try Incident.start(runbook: loaded, incident: self.incident, parameters: parameters,
                                              environment: options.environment())
            print("incident \(incident.id) started with \(loaded.id) (\(loaded.title)), sha256 \(loaded.sha256)")
            print("folder \(incident.directory)")
            if let first = incident.progress.current { print("next step: \(first.step.id) — \(first.step.title)") }
        }
    }

    private func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
    }

    private func existing(_ path: String) -> String? {
        access(path, F_OK) == 0 ? path : nil
    }
}

struct RunbookStatus: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show each step's state and the next step.")

    @Argument(help: "The incident's id.")
    var incident: String

    @OptionGroup var options: RunbookOptions

    func run() throws {
        try runbookReporting {
            let record = try IncidentRecord.load(incident, stateDirectory: options.stateDirectory)
            if let started = record.started, let runbook = started.runbook {
                print("incident \(record.id): \(runbook.title) (\(runbook.id) version \(runbook.version)), started \(started.time) by \(started.actor)")
            }
            guard let progress = record.progress else {
                throw ForensicsError.journal(path: record.journal.path, line: nil, reason: record.runbookProblem ?? "no runbook")
            }
            for (index, step) in progress.steps.enumerated() {
                let marker = step.step.id == progress.current?.step.id ? ">" : " "
                let flags = step.step.destructive ? " [destructive]" : ""
                print("\(marker) \(String(index + 1).padding(3))\(step.state.rawValue.padding(20))\(step.step.id.padding(26))\(step.step.kind.rawValue)\(flags)")
            }
            let findings = IncidentJournal.chainFindings(record.reading)
            print("journal: \(record.reading.lines.count) entries, head \(record.reading.lines.last?.entry.hash ?? "-")"
                  + (findings.isEmpty ? "" : ", \(findings.count) problems (run verify)"))
            print(progress.current.map { "next: \($0.step.id) — \($0.step.title)" } ?? "complete: every step is resolved")
        }
    }
}

struct RunbookNext: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "next",
        abstract: "Take the next step: run a command, snapshot or check step; on a terminal, walk on.",
        discussion: """
        On a terminal it shows each step, asks before running it and asks for a note on manual
        steps, until the runbook is done or you stop. Without a terminal it runs one command,
        snapshot or check step and exits 0, or for a manual step prints the `done`/`skip`
        command needed and exits 3; a failed step exits 4, a refused one 5.
        """)

    @Argument(help: "The incident's id.")
    var incident: String

    @Flag(help: "Behave as without a terminal even on one.")
    var batch = false

    @OptionGroup var options: RunbookOptions

    func run() throws {
        var status: Int32 = 0
        try runbookReporting {
            var incident = try Incident.resume(self.incident, environment: options.environment())
            if !batch && isatty(STDIN_FILENO) != 0 && isatty(STDOUT_FILENO) != 0 {
                status = try walk(&incident)
            } else {
                status = try takeOne(&incident)
            }
        }
        if status != 0 { throw ExitCode(status) }
    }

    private func takeOne(_ incident: inout Incident) throws(ForensicsError) -> Int32 {
        guard let current = incident.progress.current else {
            print("incident \(incident.id) is complete: every step is resolved")
            return 0
        }
        show(current.step, incident)
        if current.step.kind == .manual {
            print("waiting for the operator: mtforensics runbook done \(incident.id) \(current.step.id) --note \"what was done\"")
            print("                      or: mtforensics runbook skip \(incident.id) \(current.step.id) --reason \"why\"")
            return RunbookExit.waitingForOperator
        }
        let outcome = try incident.runNext()
        report(outcome, incident)
        return outcome.entry.event == .stepFailed && !current.step.continueOnFailure ? RunbookExit.stepFailed : 0
    }

    private func walk(_ incident: inout Incident) throws(ForensicsError) -> Int32 {
        while let current = incident.progress.current {
            show(current.step, incident)
            let manual = current.step.kind == .manual
            let answer = ask(manual ? "[d]one (with a note), [s]kip (with a reason), [q]uit? "
                                    : "[r]un, [s]kip (with a reason), [q]uit? ")
            switch (answer.lowercased().first, manual) {
            case ("d", true):
                let note = ask("note: ")
                if note.isEmpty { print("a note is needed; nothing recorded"); continue }
                report(try incident.confirm(current.step.id, note: note), incident)
            case ("r", false):
                let outcome = try incident.runNext()
                report(outcome, incident)
                if outcome.entry.event == .stepFailed && !current.step.continueOnFailure {
                    print("the step failed: fix the cause and run `next` again, or skip it with a reason")
                    return RunbookExit.stepFailed
                }
            case ("s", _):
                let reason = ask("reason: ")
                if reason.isEmpty { print("a reason is needed; nothing recorded"); continue }
                report(try incident.skip(current.step.id, reason: reason), incident)
            default:
                print("stopped; `mtforensics runbook next \(incident.id)` carries on from here")
                return 0
            }
        }
        print("incident \(incident.id) is complete; `mtforensics runbook report \(incident.id)` writes the report")
        return 0
    }

    private func ask(_ prompt: String) -> String {
        print(prompt, terminator: "")
        fflush(nil)
        return (readLine() ?? "q").trimmingCharacters(in: .whitespaces)
    }
}

/// The step as the operator sees it before taking it.
func show(_ step: RunbookStep, _ incident: Incident) {
    let index = (incident.runbook.steps.firstIndex { $0.id == step.id } ?? 0) + 1
    print("step \(index)/\(incident.runbook.steps.count): \(step.id) — \(step.title) [\(step.kind.rawValue)\(step.destructive ? ", destructive" : "")]")
    if let instructions = step.instructions {
        let text = incident.substitute(instructions.trimmingCharacters(in: .whitespacesAndNewlines), quoted: false)
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) { print("  " + line) }
    }
    switch step.action {
    case .manual: break
    case .command(let invocation, let timeout):
        switch invocation {
        case .argv(let argv): print("  runs: " + argv.map { incident.substitute($0, quoted: false) }.joined(separator: " "))
        case .shell(let line): print("  runs: sh -c " + incident.substitute(line, quoted: true))
        }
        print("  timeout: \(ConfigText.format(timeout))\(step.continueOnFailure ? ", a failure does not stop the run" : "")")
    case .snapshot(let since, let format, let redact):
        print("  snapshot of the last \(ConfigText.format(since)) as \(format.rawValue)\(redact ? ", addresses redacted" : "")")
    case .check(let ids):
        print("  checks: " + ids.joined(separator: ", "))
    }
}

func report(_ outcome: StepOutcome, _ incident: Incident) {
    for line in outcome.summary { print("  " + line) }
    print("recorded: entry \(outcome.entry.seq) \(outcome.entry.event.rawValue)\(outcome.entry.step.map { " " + $0 } ?? ""), hash \(outcome.entry.hash.prefix(16))…")
    if outcome.completedRunbook {
        print("every step is resolved; `mtforensics runbook report \(incident.id)` writes the report")
    } else if let next = incident.progress.current, outcome.entry.event != .stepFailed || next.step.id != outcome.entry.step {
        print("next: \(next.step.id) — \(next.step.title)")
    }
}

struct RunbookDone: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "done", abstract: "Confirm the next step, a manual one, with a note.")

    @Argument(help: "The incident's id.")
    var incident: String

    @Argument(help: "The step's id.")
    var step: String

    @Option(help: "What was done (required).")
    var note: String

    @OptionGroup var options: RunbookOptions

    func run() throws {
        try runbookReporting {
            var incident = try Incident.resume(self.incident, environment: options.environment())
            report(try incident.confirm(step, note: note), incident)
        }
    }
}

struct RunbookSkip: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "skip", abstract: "Skip the next step, with a reason.")

    @Argument(help: "The incident's id.")
    var incident: String

    @Argument(help: "The step's id.")
    var step: String

    @Option(help: "Why the step is skipped (required).")
    var reason: String

    @OptionGroup var options: RunbookOptions

    func run() throws {
        try runbookReporting {
            var incident = try Incident.resume(self.incident, environment: options.environment())
            report(try incident.skip(step, reason: reason), incident)
        }
    }
}

struct RunbookReport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "Write the post-incident report (Markdown): actions, timeline, evidence hashes.")

    @Argument(help: "The incident's id.")
    var incident: String

    @Option(help: "Write the report to this file instead of standard output.")
    var out: String?

    @OptionGroup var options: RunbookOptions

    func run() throws {
        try runbookReporting {
            let record = try IncidentRecord.load(incident, stateDirectory: options.stateDirectory)
            let text = IncidentReport.markdown(record, verification: try record.journal.verify())
            if let out {
                do {
                    try Data(text.utf8).write(to: URL(fileURLWithPath: out), options: .withoutOverwriting)
                } catch {
                    throw ForensicsError.usage("\(out): cannot write the report (\(error.localizedDescription))")
                }
                print(out)
            } else {
                print(text, terminator: "")
            }
        }
    }
}

struct RunbookVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check an incident's journal: every line's hash and place in the chain, every evidence file.",
        discussion: "Prints one FAILED line per problem naming the journal line; exits 6 when there is any.")

    @Argument(help: "The incident's id.")
    var incident: String

    @Option(help: "A head hash recorded earlier (from status or report): also proves nothing was cut from the end.")
    var head: String?

    @OptionGroup var options: RunbookOptions

    func run() throws {
        var verified = true
        try runbookReporting {
            let record = try IncidentRecord.load(incident, stateDirectory: options.stateDirectory)
            let verification = try record.journal.verify(expectedHead: head)
            for finding in verification.findings { print("FAILED \(record.journal.path.dropLast(IncidentJournal.fileName.count))\(finding)") }
            if verification.isVerified {
                print("verified \(record.journal.path): \(verification.entries) entries chained, \(verification.evidenceFiles) evidence files match, head \(verification.head ?? "-")")
            } else {
                print("NOT VERIFIED \(record.journal.path): \(verification.findings.count) problems")
                verified = false
            }
        }
        if !verified { throw ExitCode(RunbookExit.notVerified) }
    }
}

/// The checklist `check` steps use: the deployment security checklist of this build.
struct ChecklistOfThisBuild: DeploymentChecklist {
    func run(ids: [String], context: CheckContext) -> [CheckOutcome] {
        ids.map { CheckOutcome(id: $0, title: $0, status: .unknown, detail: "the security checklist is not in this build yet",
                               fix: "check it by hand, then skip the step with what you found") }
    }
}
