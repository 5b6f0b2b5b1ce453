import ArgumentParser
import Forensics
import Foundation

struct SecurityCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Run the deployment security checklist against this machine.",
        discussion: """
        Each item prints PASS, FAIL or UNKNOWN, what was seen and, unless it passed, the fix.
        Exit status: 0 every item passed, 1 at least one failed, 2 none failed but some could
        not be decided (run as root to read the firewall and other users' processes).
        Items: \(SecurityChecklist.items.map(\.id).joined(separator: ", ")).
        """
    )

    @Option(name: .customLong("proxy-config"), help: "mtproxy's configuration file.")
    var proxyConfig: String

    @Option(name: .customLong("auditor-config"), help: "mtauditor's configuration file (its nftables table is looked for).")
    var auditorConfig: String?

    @Option(help: "Where `make backup` writes (holding `latest`).")
    var backups: String = "backups"

    @Option(help: "Run only these items (comma-separated ids).")
    var only: String?

    @Flag(help: "Print the outcomes as one JSON object.")
    var json = false

    func validate() throws {
        if let only {
            let known = Set(SecurityChecklist.items.map(\.id))
            for id in only.split(separator: ",") where !known.contains(String(id)) {
                throw ValidationError("no check item \(id); known: \(SecurityChecklist.items.map(\.id).joined(separator: ", "))")
            }
        }
    }

    func run() throws {
        let context = CheckContext(proxyConfigPath: proxyConfig, auditorConfigPath: auditorConfig, backupDirectory: backups)
        let outcomes = SecurityChecklist.run(ids: only.map { $0.split(separator: ",").map(String.init) }, context: context)
        let status = SecurityCheckCommand.exitStatus(outcomes)
        if json {
            print(try SecurityCheckCommand.json(outcomes, status: status))
        } else {
            for outcome in outcomes {
                print("\(outcome.status.rawValue.uppercased().padding(8))\(outcome.id.padding(22))\(outcome.title)")
                print("        \(outcome.detail)")
                if let fix = outcome.fix { print("        fix: \(fix)") }
            }
            let count = { (wanted: CheckOutcome.Status) in outcomes.filter { $0.status == wanted }.count }
            print("\(count(.pass)) passed, \(count(.fail)) failed, \(count(.unknown)) unknown")
        }
        if status != 0 { throw ExitCode(status) }
    }

    /// 0 all passed, 1 any failed, 2 only unknowns besides passes.
    static func exitStatus(_ outcomes: [CheckOutcome]) -> Int32 {
        if outcomes.contains(where: { $0.status == .fail }) { return 1 }
        if outcomes.contains(where: { $0.status == .unknown }) { return 2 }
        return 0
    }

    struct Report: Encodable {
        var status: String
        var outcomes: [CheckOutcome]
    }

    static func json(_ outcomes: [CheckOutcome], status: Int32) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let word = status == 0 ? "pass" : status == 1 ? "fail" : "unknown"
        return String(decoding: try encoder.encode(Report(status: word, outcomes: outcomes)), as: UTF8.self)
    }
}
