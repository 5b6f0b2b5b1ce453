@testable import Auditor
import EventLog
import Foundation
import Testing

@Suite struct ExecBlockerTests {
    let scratch: ScratchDirectory
    var script: String { scratch.path + "/ban.sh" }
    var record: String { scratch.path + "/calls.txt" }

    init() throws {
        scratch = try ScratchDirectory("exec")
    }

    /// Run through `/bin/sh SCRIPT`: executing a file just written can fail with ETXTBSY
    /// while a process spawned by a test running beside this one still holds it open.
    /// A command that appends its arguments, one call a line, `|`-separated; exits with `status`.
    func writeScript(status: Int = 0) throws {
        try """
            #!/bin/sh
            for argument in "$@"; do printf '%s|' "$argument" >> '\(record)'; done
            echo >> '\(record)'
            exit \(status)
            """.write(toFile: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script)
    }

    func calls() throws -> [String] {
        guard FileManager.default.fileExists(atPath: record) else { return [] }
        return try String(contentsOfFile: record, encoding: .utf8).split(separator: "\n").map(String.init)
    }

    @Test func runsTheTemplateOncePerChangeWithEachArgumentWhole() async throws {
        defer { scratch.remove() }
        try writeScript()
        let blocker = try ExecBlocker(template: ["/bin/sh", script, "{action}", "{value}", "{duration}", "{scope}", "--note=a b; rm -rf / $(id)"])
        try await blocker.apply(added: [decision("203.0.113.7", until: 1_090_500), decision("2001:db8::/48", until: 1_060_000)],
                                removed: [decision("192.0.2.1")], now: 1_000_000)
        #expect(try calls() == [
            "delete|192.0.2.1|0|ip|--note=a b; rm -rf / $(id)|",
            "add|203.0.113.7|91|ip|--note=a b; rm -rf / $(id)|",
            "add|2001:db8::/48|60|cidr|--note=a b; rm -rf / $(id)|",
        ])
    }

    @Test func ipHashValuesAreNotItsByDefault() throws {
        let blocker = try ExecBlocker(template: ["/bin/true", "{value}"])
        #expect(blocker.accepts(.ip) && blocker.accepts(.cidr))
        #expect(!blocker.accepts(.ipHash))
    }

    @Test func badTemplatesAreRefused() {
        #expect(throws: AuditorError.self) { try ExecBlocker(template: []) }
        #expect(throws: AuditorError.self) { try ExecBlocker(template: ["{value}"]) }
        #expect(throws: AuditorError.self) { try ExecBlocker(template: ["/bin/true", "ban"]) }
    }

    @Test func aFailingCommandIsReportedAndRetriedUntilItWorks() async throws {
        defer { scratch.remove() }
        try writeScript(status: 3)
        let clock = TestClock()
        let blocker = try ExecBlocker(template: ["/bin/sh", script, "{action}", "{value}"])
        let blockers = BlockerSet(blockers: [blocker], clock: { clock.now })
        await blockers.start(active: [])
        await blockers.enforce(added: [decision("192.0.2.1", until: 9_000_000)], removed: [])
        var status = try #require(await blockers.statuses.first)
        #expect(status.failures == 1)
        #expect(status.pending == 1)
        #expect(status.lastError?.contains("exited with status 3") == true)
        #expect(try calls() == ["add|192.0.2.1|"])

        try writeScript(status: 0)
        clock.advance(BlockerSet.firstRetryDelay)
        await blockers.retryDue()
        status = try #require(await blockers.statuses.first)
        #expect(status.pending == 0)
        #expect(status.lastError == nil)
        #expect(try calls() == ["add|192.0.2.1|", "add|192.0.2.1|"])
    }

    @Test func aMissingProgramIsAFailureNotACrash() async throws {
        let blocker = try ExecBlocker(template: ["/nonexistent/mtshield-ban", "{value}"])
        let error = await #expect(throws: AuditorError.self) {
            try await blocker.apply(added: [decision("192.0.2.1", until: 9_000_000)], removed: [], now: 0)
        }
        #expect(error?.description.contains("/nonexistent/mtshield-ban") == true)
    }

    @Test func aHangingCommandIsKilledAtItsTimeout() async throws {
        defer { scratch.remove() }
        try "#!/bin/sh\nexec sleep 60\n".write(toFile: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script)
        let blocker = try ExecBlocker(template: ["/bin/sh", script, "{value}"], timeout: .milliseconds(300))
        let error = await #expect(throws: AuditorError.self) {
            try await blocker.apply(added: [decision("192.0.2.1", until: 9_000_000)], removed: [], now: 0)
        }
        #expect(error?.description.contains("timed out") == true)
    }
}
