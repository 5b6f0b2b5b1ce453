import Foundation
@testable import Forensics

/// A checklist whose answers the test sets.
struct FixedChecklist: DeploymentChecklist {
    var statuses: [String: CheckOutcome.Status]

    func run(ids: [String], context: CheckContext) -> [CheckOutcome] {
        ids.compactMap { id in
            statuses[id].map { CheckOutcome(id: id, title: id, status: $0, detail: "fixed \($0.rawValue)", fix: "fix \(id)") }
        }
    }
}

/// A clock that moves one second per reading, from 2026-11-25T01:00:00Z.
final class SteppingClock: @unchecked Sendable {
    private let lock = NSLock()
    private var now: Int64 = 1_795_568_400_000

    func next() -> Int64 {
        lock.lock()
        defer { lock.unlock() }
        now += 1000
        return now
    }
}

/// A state folder, a runbooks folder and an environment over them.
final class RunbookBench {
    let folder: TemporaryDirectory
    let clock = SteppingClock()
    var checklist = FixedChecklist(statuses: [:])

    init() throws {
        folder = try TemporaryDirectory()
    }

    var state: String { folder.file("incidents") }

    var environment: RunbookEnvironment {
        let clock = self.clock
        return RunbookEnvironment(stateDirectory: state, actor: "tester", host: "testhost",
                                  clock: { clock.next() }, checklist: checklist,
                                  snapshotCatalog: try! ArtifactCatalog.parse(yaml: """
                                  artifacts:
                                    - name: uptime
                                      kind: command
                                      run: [cat, /proc/uptime]
                                  """, file: "test-artifacts.yaml"))
    }

    @discardableResult
    func writeRunbook(_ name: String, _ text: String) throws -> Runbook {
        let path = try folder.write("runbooks/" + name, text)
        return try Runbook.load(path: path)
    }

    func start(_ runbook: Runbook, _ id: String = "inc-1", parameters: [String: String] = [:]) throws -> Incident {
        try Incident.start(runbook: runbook, incident: id, parameters: parameters, environment: environment)
    }

    func resume(_ id: String = "inc-1") throws -> Incident {
        try Incident.resume(id, environment: environment)
    }

    func journalLines(_ id: String = "inc-1") throws -> [String] {
        let text = String(decoding: try readBytes(state + "/" + id + "/journal.jsonl"), as: UTF8.self)
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    func writeJournal(_ lines: [String], _ id: String = "inc-1") throws {
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: state + "/" + id + "/journal.jsonl"))
    }
}

/// A runbook exercising every step kind: manual, snapshot, destructive command, check.
let sampleRunbook = """
id: sample
title: Sample incident
description: Every kind of step, in the order a real runbook takes them.
version: 1
steps:
  - id: assess
    title: Look at what is happening
    kind: manual
    instructions: Write down what you see.
  - id: preserve
    title: Preserve the evidence
    kind: snapshot
    since: 1h
  - id: stop
    title: Stop the service
    kind: command
    run: [sh, -c, "echo stopping {{incident}}; echo oops >&2"]
    destructive: true
  - id: verify
    title: Check the deployment
    kind: check
    checks: [non_root_user, stats_loopback]
  - id: review
    title: Hold the review
    kind: manual
"""
