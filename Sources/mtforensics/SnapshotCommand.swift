import ArgumentParser
import ConfigFile
import Dispatch
import Forensics
#if canImport(Glibc)
import Glibc
#endif

struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Collect the evidence of an incident into one verifiable archive.",
        discussion: """
        Collects what the artifact list names (proxy events in the time window, the blocklist,
        the auditor's decisions and reports, both configurations with every secret replaced
        by a fingerprint, and the system's state) into a .tar.lz4 (or .tar.gz) archive with
        manifest.json and custody.json inside and a .sha256 sidecar beside it.
        """
    )

    @Option(name: [.customLong("proxy-config"), .customLong("config")], help: "The mtproxy configuration file.")
    var proxyConfig: String?

    @Option(name: .customLong("auditor-config"), help: "The mtauditor configuration file.")
    var auditorConfig: String?

    @Option(help: "How far back the time window reaches (500ms, 30s, 5m, 2h, 7d).")
    var since: String = "24h"

    @Option(help: "Directory the archive is written to.")
    var out: String = "."

    @Option(help: "Incident identifier recorded in custody.json and the archive name.")
    var incident: String?

    @Option(name: .customLong("operator"), help: "Who takes the snapshot (default: the user behind sudo, or the login).")
    var operatorName: String?

    @Flag(help: "Replace every client address by a keyed pseudonym, for evidence handed to others.")
    var redact = false

    @Option(help: "Container: lz4 or gzip.")
    var format: String = "lz4"

    @Option(help: "An artifact list (YAML) instead of the built-in one.")
    var artifacts: String?

    @Option(name: .customLong("max-bytes"), help: "Byte budget for all artifact content (64KiB, 100MiB, 1GiB).")
    var maxBytes: String = "1GiB"

    @Option(name: .customLong("command-timeout"), help: "Timeout of each command without its own.")
    var commandTimeout: String = "10s"

    func validate() throws {
        guard ConfigText.duration(since) != nil else { throw ValidationError("--since: expected a duration such as 30m, 2h or 7d") }
        guard ConfigText.duration(commandTimeout).map({ $0 > .zero }) == true else {
            throw ValidationError("--command-timeout: expected a duration such as 10s")
        }
        guard let budget = ConfigText.byteSize(maxBytes), budget > 0 else {
            throw ValidationError("--max-bytes: expected a size such as 100MiB or 1GiB")
        }
        guard ArchiveFormat(rawValue: format) != nil else { throw ValidationError("--format: expected lz4 or gzip") }
        for (flag, path) in [("--proxy-config", proxyConfig), ("--auditor-config", auditorConfig), ("--artifacts", artifacts)] {
            if let path, access(path, R_OK) != 0 {
                throw ValidationError("\(flag): \(path) cannot be read: \(String(cString: strerror(errno)))")
            }
        }
    }

    func run() throws {
        try reporting { try snapshot() }
    }

    private func snapshot() throws {
        let catalog: ArtifactCatalog
        do {
            catalog = try artifacts.map { path throws(ConfigError) in try ArtifactCatalog.load(path: path) } ?? .shipped()
        } catch {
            throw CLIFailure(message: "\(error)", status: 1)
        }
        let now = HostFacts.nowMilliseconds()
        let window = ConfigText.milliseconds(ConfigText.duration(since)!)
        let host = HostFacts.hostName()
        let environment = ProcessEnvironment.current
        let request = SnapshotRequest(
            proxyConfigurationPath: proxyConfig,
            auditorConfigurationPath: auditorConfig,
            sinceMilliseconds: now - window,
            untilMilliseconds: now,
            outputDirectory: out,
            incident: incident ?? "incident-" + RFC3339.format(milliseconds: now).filter { $0.isNumber }.prefix(14),
            operatorName: operatorName ?? HostFacts.operatorName(environment: environment),
            host: host,
            redactAddresses: redact,
            format: ArchiveFormat(rawValue: format)!,
            catalog: catalog,
            byteBudget: UInt64(ConfigText.byteSize(maxBytes)!),
            commandTimeout: ConfigText.duration(commandTimeout)!,
            commandLine: CommandLine.arguments)
        let interrupts = InterruptHandler.install()
        defer { interrupts.cancel() }
        let progress = ProgressLine.onTerminal()
        var report: (@Sendable (SnapshotProgress) -> Void)?
        if let progress { report = { progress.show($0) } }
        let snapshot = EvidenceSnapshot(request: request, clock: HostFacts.clock(atMilliseconds: now), progress: report)
        let result: SnapshotResult
        do {
            result = try snapshot.run()
        } catch {
            progress?.clear()
            throw CLIFailure(message: "\(error)", status: 1)
        }
        progress?.clear()
        for artifact in result.custody.artifacts {
            var line = "\(artifact.status.rawValue.padding(9))\(artifact.name)"
            if let bytes = artifact.bytes { line += " (\(bytes) bytes)" }
            if let error = artifact.error { line += ": \(error)" }
            printError(line)
        }
        print(result.archivePath)
        print(result.sidecarPath)
        printError("sha256 \(result.sha256), \(result.archiveBytes) bytes, \(result.manifest.files.count) files")
    }
}

/// Stops an interrupted snapshot cleanly: its temporary files and staging directory go.
struct InterruptHandler {
    private let sources: [DispatchSourceSignal]

    static func install() -> InterruptHandler {
        let sources = [SIGINT, SIGTERM].map { signalNumber in
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler {
                InterruptCleanup.removeAll()
                writeError("\r\u{1b}[Kmtforensics: interrupted; no archive was written\n")
                exit(128 + signalNumber)
            }
            source.resume()
            return source
        }
        return InterruptHandler(sources: sources)
    }

    func cancel() {
        for source in sources { source.cancel() }
    }
}

/// The one-line progress report, redrawn in place on a terminal and absent otherwise.
final class ProgressLine: @unchecked Sendable {
    private var lastDraw: Int64 = 0
    private let lock = Mutex()

    static func onTerminal() -> ProgressLine? {
        isatty(STDERR_FILENO) != 0 ? ProgressLine() : nil
    }

    func show(_ progress: SnapshotProgress) {
        lock.run {
            let now = HostFacts.nowMilliseconds()
            guard now - lastDraw >= 100 else { return }
            lastDraw = now
            let text: String
            switch progress {
            case .collecting(let artifact, let index, let total, let bytes):
                text = "collecting \(index)/\(total) \(artifact), \(bytes >> 20) MiB so far"
            case .packing(let bytes, let total):
                text = "packing \(total == 0 ? 100 : bytes * 100 / total)% of \(total >> 20) MiB"
            }
            writeError("\r\u{1b}[K" + text)
        }
    }

    func clear() {
        lock.run { writeError("\r\u{1b}[K") }
    }
}

/// A minimal lock for the progress line (the snapshot reports from one thread, but the
/// callback type is @Sendable).
final class Mutex: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    init() { pthread_mutex_init(&mutex, nil) }
    deinit { pthread_mutex_destroy(&mutex) }
    func run(_ body: () -> Void) {
        pthread_mutex_lock(&mutex)
        body()
        pthread_mutex_unlock(&mutex)
    }
}
