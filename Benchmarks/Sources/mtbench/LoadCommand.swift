import ArgumentParser
import BenchmarkPeers
import Foundation
import MTCrypto
import NIOCore

struct LoadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Drive one relay through the warm-up, idle, setup and bulk phases; write its figures as JSON.")

    @Option(help: "The relay's listen address, host:port (loopback only).")
    var relay: String

    @Option(help: "The relay's name in the table (nginx, mtprotoproxy, mtproxy).")
    var name: String

    @Option(help: "obfuscated2, or plain for a relay that does no crypto.")
    var encryption: PeerEncryption = .obfuscated2

    @Option(help: "The proxy's secret in hex: 32 digits, 34 with the dd prefix, or ee + 32 + the domain in hex (the clients then speak fake TLS).")
    var secret: String = "dd00000000000000000000000000000000"

    @Option(help: "PID of the process that relays (for nginx: the worker).")
    var proxyPID: Int32

    @Option(help: "PID of the fake DC.")
    var dcPID: Int32

    @Option(help: "Connections held idle for the memory figure.")
    var idle: Int = 5_000

    @Option(help: "Handshake + req_pq round trips for the setup figures.")
    var setups: Int = 5_000

    @Option(help: "Handshakes in flight at once.")
    var parallel: Int = 16

    @Option(help: "Parallel bulk connections.")
    var bulkConnections: Int = 8

    @Option(name: .customLong("bulk-mib"), help: "MiB each bulk connection sends each way.")
    var bulkMiB: Int = 128

    @Option(help: "Times the bulk phase runs; the median round is reported.")
    var bulkRounds: Int = 3

    @Option(help: "Distinct client addresses, 127.0.0.2 upwards.")
    var sources: Int = 50

    @Option(help: "Write the report here (JSON); standard output when absent.")
    var output: String?

    func validate() throws {
        guard [32, 34].contains(secret.count) || (secret.hasPrefix("ee") && secret.count > 34),
              let bytes = [UInt8](hex: secret), !secret.hasPrefix("ee") || String(validating: bytes[17...], as: UTF8.self) != nil else {
            throw ValidationError("--secret: expected 32 hex digits, 34 with the dd prefix, or ee + 32 + the domain in hex")
        }
        guard (1...250).contains(sources) else { throw ValidationError("--sources: 1 to 250") }
        guard idle > 0, setups > 0, bulkRounds > 0, parallel > 0, bulkConnections > 0, bulkMiB > 0 else {
            throw ValidationError("counts must be positive")
        }
    }

    func run() async throws {
        let bytes = [UInt8](hex: secret)!
        let fakeTLS = secret.hasPrefix("ee") && bytes.count > 17
        let key = fakeTLS ? Array(bytes[1..<17]) : Array(bytes.suffix(16))
        var plan = LoadPlan(relay: try loopbackAddress(relay), encryption: encryption, secret: key)
        if fakeTLS { plan.fakeTLSDomain = String(decoding: bytes[17...], as: UTF8.self) }
        plan.idleConnections = idle
        plan.setupConnections = setups
        plan.parallelSetups = parallel
        plan.bulkConnections = bulkConnections
        plan.bulkFramesPerDirection = bulkMiB * (1 << 20) / BulkStream.payloadLength
        plan.sourceAddresses = sources
        plan.bulkRounds = bulkRounds
        let runner = LoadRunner(plan: plan, processes: ProcessSet(proxy: proxyPID, fakeDC: dcPID)) { line in
            FileHandle.standardError.write(Data("\(line)\n".utf8))
        }
        let report = try await runner.run(relayName: name)
        try await runner.shutdown()
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let json = try encoder.encode(report)
        if let output {
            try json.write(to: URL(fileURLWithPath: output))
        } else {
            FileHandle.standardOutput.write(json + Data("\n".utf8))
        }
        if report.errors > 0 {
            FileHandle.standardError.write(Data("\(name): \(report.errors) failed connections, first: \(report.firstError ?? "?")\n".utf8))
        }
    }
}
