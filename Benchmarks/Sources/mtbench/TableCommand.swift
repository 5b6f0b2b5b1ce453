import ArgumentParser
import BenchmarkPeers
import Foundation

struct TableCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "table",
        abstract: "Print the comparison table of reports written by `mtbench load`.")

    @Argument(help: "Report files (JSON), one per relay.")
    var reports: [String] = []

    @Option(help: "The relay that is the floor (no crypto).")
    var floor = "nginx"

    @Option(help: "The relay under test.")
    var subject = "mtproxy"

    @Option(help: "The reference proxy.")
    var reference = "mtprotoproxy"

    @Option(help: "Target of the subject/floor CPU-s per GiB ratio (1.25 with dd secrets, 1.4 in fake-TLS mode).")
    var floorTarget = 1.25

    func run() throws {
        let decoder = JSONDecoder()
        let runs = try reports.map { path in
            try decoder.decode(RunReport.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        }
        print(ResultTable(runs: runs, floor: floor, subject: subject, reference: reference, floorTarget: floorTarget).text)
    }
}

/// The figures side by side, then the ratios the issue sets targets for.
struct ResultTable {
    let runs: [RunReport]
    let floor: String
    let subject: String
    let reference: String
    var floorTarget = 1.25

    var text: String {
        var lines: [String] = []
        let header = ["relay", "peers", "CPU-s/GiB", "rounds", "MiB/s", "CPU-ms/setup", "setups/s", "KiB/idle conn", "failed"]
        var rows = [header]
        for run in runs {
            rows.append([run.relay, run.encryption,
                         fixed(run.bulk.proxyCPUSecondsPerGiB, 3), range(run.bulk.roundsCPUSecondsPerGiB),
                         fixed(run.bulk.mebibytesPerSecond, 0),
                         fixed(run.setup.proxyCPUMillisecondsPerConnection, 3), fixed(run.setup.setupsPerSecond, 0),
                         fixed(run.idle.kibPerConnection, 1), "\(run.errors)"])
        }
        for name in [floor, reference, subject] where !runs.contains(where: { $0.relay == name }) {
            rows.append([name, "-", "pending", "", "", "", "", "", ""])
        }
        lines += aligned(rows)
        lines.append("")
        lines.append("load generator CPU (fake DC + client), to show the peers were not the bottleneck:")
        var peerRows = [["relay", "bulk DC CPU-s", "bulk client CPU-s", "bulk wall s", "setup DC CPU-s", "setup client CPU-s", "setup wall s"]]
        for run in runs {
            peerRows.append([run.relay,
                             fixed(run.bulk.cost.fakeDCCPUSeconds, 2), fixed(run.bulk.cost.clientCPUSeconds, 2), fixed(run.bulk.cost.wallSeconds, 2),
                             fixed(run.setup.cost.fakeDCCPUSeconds, 2), fixed(run.setup.cost.clientCPUSeconds, 2), fixed(run.setup.cost.wallSeconds, 2)])
        }
        lines += aligned(peerRows)
        lines.append("")
        lines += ratios
        return lines.joined(separator: "\n")
    }

    private var ratios: [String] {
        let byName = Dictionary(runs.map { ($0.relay, $0) }, uniquingKeysWith: { first, _ in first })
        guard let tested = byName[subject] else {
            return ["ratios: pending, no \(subject) run"]
        }
        var lines = ["ratios (targets in brackets):"]
        if let base = byName[floor] {
            let ratio = tested.bulk.proxyCPUSecondsPerGiB / base.bulk.proxyCPUSecondsPerGiB
            lines.append("  \(subject)/\(floor) CPU-s per GiB      \(fixed(ratio, 2))  [≤ \(fixed(floorTarget, 2))] \(verdict(ratio <= floorTarget))")
        }
        if let peer = byName[reference] {
            let setup = peer.setup.proxyCPUMillisecondsPerConnection / tested.setup.proxyCPUMillisecondsPerConnection
            let bulk = peer.bulk.proxyCPUSecondsPerGiB / tested.bulk.proxyCPUSecondsPerGiB
            lines.append("  \(reference)/\(subject) CPU per setup  \(fixed(setup, 2))  [≥ 5] \(verdict(setup >= 5))")
            lines.append("  \(reference)/\(subject) CPU-s per GiB  \(fixed(bulk, 2))")
        }
        let idle = tested.idle.kibPerConnection
        lines.append("  \(subject) KiB per idle connection    \(fixed(idle, 1))  [≤ 24 at \(tested.idle.connections)] \(verdict(idle <= 24))")
        return lines
    }

    private func range(_ rounds: [Double]?) -> String {
        guard let rounds, let low = rounds.min(), let high = rounds.max() else { return "-" }
        return "\(fixed(low, 2))-\(fixed(high, 2))"
    }

    private func verdict(_ met: Bool) -> String { met ? "met" : "NOT met" }
}

func fixed(_ value: Double, _ digits: Int) -> String {
    guard value.isFinite else { return "n/a" }
    return String(format: "%.\(digits)f", value)
}

func aligned(_ rows: [[String]]) -> [String] {
    let widths = (0..<(rows.first?.count ?? 0)).map { column in rows.map { $0[column].count }.max() ?? 0 }
    return rows.map { row in
        row.enumerated().map { column, cell in
            column == 0 ? cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
                : String(repeating: " ", count: widths[column] - cell.count) + cell
        }.joined(separator: "  ")
    }
}
