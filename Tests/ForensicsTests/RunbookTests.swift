import Testing
import Foundation
@testable import Forensics

@Suite(.serialized) struct RunbookTests {
    static let shippedFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("runbooks").path

    static let shippedNames = ["security-incident", "flood", "leaked-secret", "suspected-compromise",
                               "maintenance-weekly", "maintenance-monthly", "maintenance-quarterly", "pre-deployment"]

    @Test func everyShippedRunbookLoads() throws {
        let collection = try RunbookCollection.load(directory: Self.shippedFolder)
        #expect(collection.errors == [])
        #expect(Set(collection.runbooks.map(\.id)) == Set(Self.shippedNames))
        for runbook in collection.runbooks {
            #expect(runbook.path.hasSuffix("/" + runbook.id + ".yaml"), "file named after its id")
            let snapshots = runbook.steps.firstIndex { $0.kind == .snapshot }
            for (index, step) in runbook.steps.enumerated() where step.destructive {
                let snapshot = try #require(snapshots, "\(runbook.id): destructive step \(step.id) without a snapshot step")
                #expect(snapshot < index, "\(runbook.id): \(step.id) comes before the snapshot")
            }
        }
        let incident = try #require(collection.runbooks.first { $0.id == "security-incident" })
        #expect(incident.steps.map(\.kind).contains(.snapshot))
    }

    @Test func aWholeRunIsRecordedAndReported() throws {
        let bench = try RunbookBench()
        bench.checklist = FixedChecklist(statuses: ["non_root_user": .pass, "stats_loopback": .pass])
        let runbook = try bench.writeRunbook("sample.yaml", sampleRunbook)
        var incident = try bench.start(runbook, parameters: ["proxy_config": "/nonexistent/mtproxy.yaml"])
        #expect(incident.progress.current?.step.id == "assess")

        #expect(throws: ForensicsError.self) { _ = try incident.runNext() }  // manual: not run
        _ = try incident.confirm("assess", note: "many failed handshakes since 00:40")
        let snapshot = try incident.runNext()
        #expect(snapshot.entry.event == .stepDone)
        let archive = try #require(snapshot.entry.evidence.first)
        #expect(archive.path.hasPrefix("evidence/mtshield-evidence-inc-1-testhost-"))
        #expect(try FileDigest.of(path: incident.directory + "/" + archive.path).sha256 == archive.sha256)

        let stop = try incident.runNext()
        #expect(stop.entry.event == .stepDone)
        #expect(stop.entry.exitStatus == 0)
        #expect(stop.entry.evidence.map(\.path) == ["evidence/004-stop.stdout", "evidence/004-stop.stderr", "evidence/004-stop.status"])
        #expect(String(decoding: try readBytes(incident.directory + "/evidence/004-stop.stdout"), as: UTF8.self) == "stopping inc-1\n")
        #expect(String(decoding: try readBytes(incident.directory + "/evidence/004-stop.stderr"), as: UTF8.self) == "oops\n")

        let checks = try incident.runNext()
        #expect(checks.entry.event == .stepDone)
        #expect(checks.entry.note == "2 checks passed")
        let last = try incident.confirm("review", note: "held on Friday")
        #expect(last.completedRunbook)
        #expect(incident.progress.isComplete)
        #expect(incident.entries.last?.event == .completed)
        #expect(throws: ForensicsError.self) { _ = try incident.skip("review", reason: "again") }

        let record = try IncidentRecord.load("inc-1", stateDirectory: bench.state)
        let verification = try record.journal.verify()
        #expect(verification.findings == [])
        #expect(verification.evidenceFiles == 1 + 2 + 3 + 1)
        let report = IncidentReport.markdown(record, verification: verification)
        #expect(report.contains("# Incident inc-1: post-incident report"))
        #expect(report.contains("verified (hash chain and 7 evidence files intact)"))
        #expect(report.contains("| 2 | 2026-11-25T01:00:02.000Z | tester | step_done | assess | many failed handshakes since 00:40 |"))
        #expect(report.contains("`\(archive.path)` | \(archive.bytes) | `\(archive.sha256)`"))
        #expect(report.contains("| Stop the service (`stop`) | command (destructive) | done | exit status 0 |"))
        #expect(IncidentRecord.list(stateDirectory: bench.state) == ["inc-1"])
    }

    @Test func aDestructiveStepIsRefusedBeforeASnapshotAndAllowedAfter() throws {
        let bench = try RunbookBench()
        let runbook = try bench.writeRunbook("sample.yaml", sampleRunbook)
        var incident = try bench.start(runbook)
        _ = try incident.confirm("assess", note: "seen")
        _ = try incident.skip("preserve", reason: "in a hurry")
        #expect(throws: ForensicsError.refused("step stop is destructive and no snapshot of incident inc-1 has succeeded yet (run preserve first)")) {
            _ = try incident.runNext()
        }
        #expect(incident.entries.last?.event == .refused)
        #expect(incident.progress.current?.step.id == "stop")
        #expect(!FileManager.default.fileExists(atPath: incident.directory + "/evidence/005-stop.stdout"), "nothing ran")

        // The same incident with a snapshot taken first: allowed.
        let second = try RunbookBench()
        var allowed = try second.start(try second.writeRunbook("sample.yaml", sampleRunbook))
        _ = try allowed.confirm("assess", note: "seen")
        #expect(try allowed.runNext().entry.event == .stepDone)
        #expect(try allowed.runNext().entry.event == .stepDone)
    }

    @Test func aDestructiveManualStepIsRefusedToo() throws {
        let bench = try RunbookBench()
        let runbook = try bench.writeRunbook("wipe.yaml", """
        id: wipe
        title: Wipe
        description: A destructive manual step.
        version: 2
        steps:
          - {id: wipe, title: Wipe the disk, kind: manual, destructive: true}
        """)
        var incident = try bench.start(runbook)
        #expect(throws: ForensicsError.refused("step wipe is destructive and no snapshot of incident inc-1 has succeeded yet (this runbook has no snapshot step)")) {
            _ = try incident.confirm("wipe", note: "wiped")
        }
    }

    @Test func aFailingCommandStopsTheRunUnlessMarked() throws {
        let bench = try RunbookBench()
        let runbook = try bench.writeRunbook("fail.yaml", """
        id: fail
        title: Failing commands
        description: One that may fail, one that may not.
        version: 1
        steps:
          - {id: tolerated, title: May fail, kind: command, run: [sh, -c, "exit 3"], continue_on_failure: true}
          - {id: fatal, title: Must not fail, kind: command, shell: true, run: "echo partial; echo broken >&2; exit 7"}
          - {id: after, title: After, kind: manual}
        """)
        var incident = try bench.start(runbook)
        let tolerated = try incident.runNext()
        #expect(tolerated.entry.event == .stepFailed)
        #expect(tolerated.entry.exitStatus == 3)
        #expect(incident.progress.current?.step.id == "fatal")
        let fatal = try incident.runNext()
        #expect(fatal.entry.event == .stepFailed)
        #expect(fatal.entry.note == "failed: exit status 7")
        #expect(fatal.summary.contains { $0.contains("broken") })
        #expect(incident.progress.current?.step.id == "fatal", "the run stops at the failed step")
        #expect(throws: ForensicsError.refused("step fatal comes before after: finish or skip it first")) {
            _ = try incident.confirm("after", note: "moving on")
        }
        // Retrying writes new evidence beside the old.
        let retry = try incident.runNext()
        #expect(retry.entry.evidence[0].path == "evidence/004-fatal.stdout")
        _ = try incident.skip("fatal", reason: "known broken, ticket 12")
        #expect(incident.progress.current?.step.id == "after")
        #expect(incident.progress.steps.map(\.state) == [.failedContinued, .skipped, .pending])
    }

    @Test func aTimeoutAndAMissingProgramFailTheStep() throws {
        let bench = try RunbookBench()
        let runbook = try bench.writeRunbook("slow.yaml", """
        id: slow
        title: Slow
        description: A command that outlives its timeout.
        version: 1
        steps:
          - {id: slow, title: Sleep, kind: command, run: [sleep, "30"], timeout: 300ms, continue_on_failure: true}
          - {id: missing, title: Missing, kind: command, run: [no-such-program-here]}
        """)
        var incident = try bench.start(runbook)
        #expect(try incident.runNext().entry.note == "failed: timed out after 300ms")
        #expect(try incident.runNext().entry.note == "failed: command not found: no-such-program-here")
    }

    @Test func aFailingCheckFailsTheStep() throws {
        let bench = try RunbookBench()
        bench.checklist = FixedChecklist(statuses: ["non_root_user": .pass, "stats_loopback": .fail])
        let runbook = try bench.writeRunbook("check.yaml", """
        id: check
        title: Check
        description: Checks.
        version: 1
        steps:
          - {id: checks, title: Checks, kind: check, checks: [non_root_user, stats_loopback, no_such_check]}
        """)
        var incident = try bench.start(runbook)
        let outcome = try incident.runNext()
        #expect(outcome.entry.event == .stepFailed)
        #expect(outcome.entry.note == "2 of 3 checks did not pass: stats_loopback (fail), no_such_check (unknown)")
        let json = try readBytes(incident.directory + "/" + outcome.entry.evidence[0].path)
        let outcomes = try JSONDecoder().decode([CheckOutcome].self, from: Data(json))
        #expect(outcomes.map(\.status) == [.pass, .fail, .unknown])
    }

    @Test func interruptedWorkResumesWhereItStopped() throws {
        let bench = try RunbookBench()
        let runbook = try bench.writeRunbook("sample.yaml", sampleRunbook)
        do {
            var first = try bench.start(runbook)
            _ = try first.confirm("assess", note: "seen")
        }
        // A command interrupted mid-run left output behind but no journal entry.
        try bench.folder.write("incidents/inc-1/evidence/003-preserve.stdout", "half")
        var resumed = try bench.resume()
        #expect(resumed.progress.current?.step.id == "preserve")
        #expect(resumed.entries.count == 2)
        _ = try resumed.runNext()
        var again = try bench.resume()
        #expect(again.progress.current?.step.id == "stop")
        let stop = try again.runNext()
        #expect(stop.entry.event == .stepDone)
        #expect(try IncidentJournal(directory: again.directory).verify().isVerified)
    }

    @Test func aChangedRunbookIsRefusedOnResume() throws {
        let bench = try RunbookBench()
        let runbook = try bench.writeRunbook("sample.yaml", sampleRunbook)
        _ = try bench.start(runbook)
        try bench.folder.write("runbooks/sample.yaml", sampleRunbook.replacingOccurrences(of: "Hold the review", with: "Skip the review"))
        do {
            _ = try bench.resume()
            Issue.record("a changed runbook was accepted")
        } catch let ForensicsError.refused(message) {
            #expect(message.contains("has changed since incident inc-1 started"))
            #expect(message.contains(runbook.sha256))
        }
        let entries = try IncidentJournal.entries(at: bench.state + "/inc-1")
        #expect(entries.last?.event == .refused)
        // Status and report still work from the incident's own copy.
        #expect(try IncidentRecord.load("inc-1", stateDirectory: bench.state).runbook?.sha256 == runbook.sha256)
        // Restored, it resumes.
        try bench.folder.write("runbooks/sample.yaml", sampleRunbook)
        #expect(try bench.resume().progress.current?.step.id == "assess")
        // Removed, it is refused.
        try FileManager.default.removeItem(atPath: bench.folder.file("runbooks/sample.yaml"))
        #expect(throws: ForensicsError.self) { _ = try bench.resume() }
    }

    @Test func startRefusesADuplicateIncidentAndABadID() throws {
        let bench = try RunbookBench()
        let runbook = try bench.writeRunbook("sample.yaml", sampleRunbook)
        _ = try bench.start(runbook)
        #expect(throws: ForensicsError.usage("incident inc-1 already exists in \(bench.state)")) { _ = try bench.start(runbook) }
        for bad in ["", "../x", ".hidden", "a/b", "-x", String(repeating: "a", count: 65)] {
            #expect(throws: ForensicsError.self) { _ = try bench.start(runbook, bad) }
        }
    }

    @Test func stepsAreTakenInOrder() throws {
        let bench = try RunbookBench()
        var incident = try bench.start(try bench.writeRunbook("sample.yaml", sampleRunbook))
        #expect(throws: ForensicsError.refused("step assess comes before review: finish or skip it first")) {
            _ = try incident.confirm("review", note: "early")
        }
        #expect(throws: ForensicsError.self) { _ = try incident.confirm("nonexistent", note: "x") }
        #expect(throws: ForensicsError.self) { _ = try incident.confirm("assess", note: "  ") }
        #expect(throws: ForensicsError.self) { _ = try incident.skip("assess", reason: "") }
        _ = try incident.confirm("assess", note: "ok")
        #expect(throws: ForensicsError.refused("step assess is already resolved; the next step is preserve")) {
            _ = try incident.confirm("assess", note: "again")
        }
    }

    @Test func shellPlaceholdersAreQuoted() throws {
        let bench = try RunbookBench()
        let runbook = try bench.writeRunbook("quote.yaml", """
        id: quote
        title: Quote
        description: Placeholders in a shell line.
        version: 1
        steps:
          - {id: show, title: Show, kind: command, shell: true, run: "printf '%s\\\\n' {{proxy_config}} {{incident}}"}
        """)
        var incident = try bench.start(runbook, parameters: ["proxy_config": "/tmp/it's here; rm -rf x"])
        let outcome = try incident.runNext()
        #expect(String(decoding: try readBytes(incident.directory + "/" + outcome.entry.evidence[0].path), as: UTF8.self)
                == "/tmp/it's here; rm -rf x\ninc-1\n")
    }

    /// Malformed runbooks: each names file, line and key.
    @Test(arguments: [
        ("id: x\ntitle: T\ndescription: D\nversion: 1\nstep: []\n", "bad.yaml:5: step: unknown key (did you mean steps?)"),
        ("id: x\ntitle: T\ndescription: D\nversion: 1\n", "bad.yaml:1: steps: required key is missing"),
        ("id: X\ntitle: T\ndescription: D\nversion: 1\nsteps: []\n", "bad.yaml:1: id: expected an id of lower-case letters, digits and dashes"),
        ("id: x\ntitle: T\ndescription: D\nversion: 0\nsteps: [{id: a, title: A, kind: manual}]\n", "bad.yaml:4: version: must be between 1 and 1000000, found 0"),
        ("id: x\ntitle: T\ndescription: D\nversion: 1\nsteps: []\n", "bad.yaml:5: steps: a runbook needs at least one step"),
        ("id: x\ntitle: T\ndescription: D\nversion: 1\nsteps:\n  - id: a\n    title: A\n    kind: manul\n", "bad.yaml:8: steps[0].kind: expected one of manual, command, snapshot, check, found \"manul\""),
        ("id: x\ntitle: T\ndescription: D\nversion: 1\nsteps:\n  - id: a\n    title: A\n    kind: command\n    run: rm -rf /tmp/x\n", "bad.yaml:9: steps[0].run: a shell line needs shell: true"),
        ("id: x\ntitle: T\ndescription: D\nversion: 1\nsteps:\n  - id: a\n    title: A\n    kind: manual\n    run: [ls]\n", "bad.yaml:6: steps[0]: key run does not apply to a step of kind manual"),
        ("id: x\ntitle: T\ndescription: D\nversion: 1\nsteps:\n  - id: a\n    title: A\n    kind: command\n", "bad.yaml:6: steps[0].run: required key is missing"),
        ("id: x\ntitle: T\ndescription: D\nversion: 1\nsteps:\n  - id: a\n    title: A\n    kind: command\n    run: [ls, \"{{secret}}\"]\n", "bad.yaml:9: steps[0].run[1]: unknown placeholder {{secret}}"),
        ("id: x\ntitle: T\ndescription: D\nversion: 1\nsteps:\n  - id: a\n    title: A\n    kind: command\n    run: [ls]\n    timeout: 2h\n", "bad.yaml:10: steps[0].timeout: must be between 100ms and 1h"),
        ("id: x\ntitle: T\ndescription: D\nversion: 1\nsteps:\n  - {id: a, title: A, kind: manual}\n  - {id: a, title: B, kind: manual}\n", "bad.yaml:7: steps[1].id: step id a is used twice"),
        ("id: x\ntitle: T\ndescription: D\nversion: 1\nsteps:\n  - {id: a, title: A, kind: check, checks: [Bad-Id]}\n", "bad.yaml:6: steps[0].checks[0]: expected a check id"),
        ("id: x\ntitle: T\ndescription: D\nversion: 1\nsteps:\n  - {id: a, title: A, kind: snapshot, format: zip}\n", "bad.yaml:6: steps[0].format: expected one of lz4, gzip, found \"zip\""),
        ("id: x\ntitle: T\ndescription: D\nversion: 1\nsteps:\n  - {id: a, title: A, kind: manual, destructive: yes}\n", "bad.yaml:6: steps[0].destructive: expected true or false, found \"yes\""),
        ("id: x\ntitle: [unclosed\n", "bad.yaml:"),
    ])
    func malformedRunbooksNameFileLineAndKey(text: String, expected: String) throws {
        let folder = try TemporaryDirectory()
        let path = try folder.write("bad.yaml", text)
        do {
            _ = try Runbook.load(path: path)
            Issue.record("loaded a malformed runbook")
        } catch {
            let shown = error.description.replacingOccurrences(of: folder.path + "/", with: "")
            #expect(shown.hasPrefix(expected), "\(shown)")
        }
    }

    @Test func aBrokenRunbookInTheFolderIsListedAndTheOthersStayUsable() throws {
        let bench = try RunbookBench()
        try bench.writeRunbook("sample.yaml", sampleRunbook)
        try bench.folder.write("runbooks/broken.yaml", "id: broken\ntitle: B\n")
        let collection = try RunbookCollection.load(directory: bench.folder.file("runbooks"))
        #expect(collection.runbooks.map(\.id) == ["sample"])
        #expect(collection.errors.map(\.key) == ["description"])
        #expect(try RunbookCollection.find("sample", in: bench.folder.file("runbooks")).id == "sample")
        #expect(throws: ForensicsError.self) { _ = try RunbookCollection.find("sampel", in: bench.folder.file("runbooks")) }
    }

    /// The commands through the binary, without a terminal: the exit statuses a script sees.
    @Test func theCommandsWorkWithoutATerminal() throws {
        let binary = CommandLineTests.binary
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build the mtforensics product first")
        let bench = try RunbookBench()
        try bench.writeRunbook("sample.yaml", sampleRunbook)
        let common = ["--state", bench.state, "--runbooks", bench.folder.file("runbooks"), "--operator", "ops"]
        func runbook(_ arguments: [String]) throws -> ToolRun { try run([binary, "runbook"] + arguments + common) }

        let list = try runbook(["list"])
        #expect(list.status == 0 && list.text.contains("sample") && list.text.contains("5 steps"), "\(list.text)\(list.error)")
        let start = try runbook(["start", "sample", "--incident", "cli-1"])
        #expect(start.status == 0, "\(start.error)")
        #expect(try runbook(["start", "sample", "--incident", "cli-1"]).status == 2)
        let waiting = try runbook(["next", "cli-1"])
        #expect(waiting.status == 3, "\(waiting.text)")
        #expect(waiting.text.contains("mtforensics runbook done cli-1 assess --note"))
        #expect(try runbook(["done", "cli-1", "assess", "--note", "looked"]).status == 0)
        #expect(try runbook(["skip", "cli-1", "preserve", "--reason", "test"]).status == 0)
        let refused = try runbook(["next", "cli-1"])
        #expect(refused.status == 5 && refused.error.contains("destructive"), "\(refused.error)")
        let status = try runbook(["status", "cli-1"])
        #expect(status.status == 0 && status.text.contains("> 3  pending"), "\(status.text)")
        let verify = try runbook(["verify", "cli-1"])
        #expect(verify.status == 0 && verify.text.contains("verified"), "\(verify.text)")
        let report = try runbook(["report", "cli-1"])
        #expect(report.status == 0 && report.text.contains("| 3 | ") && report.text.contains("| ops | step_skipped | preserve | test |"))

        var lines = try bench.journalLines("cli-1")
        lines[1] = lines[1].replacingOccurrences(of: "looked", with: "LOOKED")
        try bench.writeJournal(lines, "cli-1")
        let tampered = try runbook(["verify", "cli-1"])
        #expect(tampered.status == 6 && tampered.text.contains("journal.jsonl:2: entry 2 was edited"), "\(tampered.text)")
        #expect(try runbook(["done", "cli-1", "stop", "--note", "x"]).status == 1, "a damaged journal is not extended")
        #expect(try runbook(["status", "nonexistent"]).status == 2)
    }

    /// The interactive walk on a terminal (a pseudo-terminal made by `script`).
    @Test func theWalkAsksOnATerminal() throws {
        let binary = CommandLineTests.binary
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build the mtforensics product first")
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "util-linux script makes the terminal")
        let bench = try RunbookBench()
        try bench.writeRunbook("sample.yaml", sampleRunbook)
        let common = "--state '\(bench.state)' --runbooks '\(bench.folder.file("runbooks"))' --operator ops"
        #expect(try shell("'\(binary)' runbook start sample --incident tty-1 \(common)").status == 0)
        let walk = try shell("printf 'd\\nlooked at the graphs\\ns\\nno time\\nr\\n' | script -qec \"'\(binary)' runbook next tty-1 \(common)\" /dev/null")
        #expect(walk.text.contains("[d]one (with a note), [s]kip (with a reason), [q]uit?"), "\(walk.text)")
        #expect(walk.text.contains("refused: step stop is destructive"), "\(walk.text)")
        let entries = try IncidentJournal.entries(at: bench.state + "/tty-1")
        #expect(entries.map(\.event) == [.started, .stepDone, .stepSkipped, .refused])
        #expect(entries[1].note == "looked at the graphs")
        #expect(entries[1].actor == "ops")
    }

    @Test func aCommandNeedingAConfigurationFailsWithoutOne() throws {
        let bench = try RunbookBench()
        var incident = try bench.start(try bench.writeRunbook("cfg.yaml", """
        id: cfg
        title: Needs the configuration
        description: A command with {{proxy_config}}.
        version: 1
        steps:
          - {id: validate, title: Validate, kind: command, run: [cat, "{{proxy_config}}"]}
        """))
        let outcome = try incident.runNext()
        #expect(outcome.entry.event == .stepFailed)
        #expect(outcome.entry.note == "not run: the command needs {{proxy_config}}, and the incident was started without --proxy-config")
    }

    @Test func aStaleViewOfTheIncidentIsNotRecorded() throws {
        let bench = try RunbookBench()
        _ = try bench.start(try bench.writeRunbook("sample.yaml", sampleRunbook))
        var first = try bench.resume()
        var second = try bench.resume()
        _ = try first.confirm("assess", note: "from the first terminal")
        #expect(throws: ForensicsError.self) { _ = try second.confirm("assess", note: "from the second terminal") }
        #expect(try IncidentJournal.entries(at: bench.state + "/inc-1").count == 2)
    }
}
