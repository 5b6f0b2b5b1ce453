#if canImport(Glibc)
import Glibc
#endif
import ConfigFile
import MTCrypto

/// Collects the artifacts of a list, one at a time, into the staging directory. Every
/// artifact ends with an outcome; nothing here stops the snapshot.
struct ArtifactCollector {
    static let maximumDirectoryFiles = 10_000
    static let maximumDirectoryDepth = 16

    let request: SnapshotRequest
    let staging: EvidenceStaging
    private(set) var secrets = SecretInventory()
    private let pseudonyms: AddressPseudonyms?
    private var configurations: [ArtifactSpec.ConfigRole: Result<EvidenceConfiguration, ConfigError>] = [:]
    private let ownOutputDirectory: String?
    private let ownStagingDirectory: String?

    init(request: SnapshotRequest, staging: EvidenceStaging) {
        self.request = request
        self.staging = staging
        self.pseudonyms = request.redactAddresses ? AddressPseudonyms() : nil
        self.ownOutputDirectory = Self.realPath(request.outputDirectory)
        self.ownStagingDirectory = Self.realPath(staging.directory)
        let paths: [(ArtifactSpec.ConfigRole, String?)] = [(.proxy, request.proxyConfigurationPath),
                                                           (.auditor, request.auditorConfigurationPath)]
        for case let (role, path?) in paths {
            do throws(ConfigError) {
                let configuration = try EvidenceConfiguration(role: role, path: path)
                configuration.registerSecrets(in: &secrets)
                configurations[role] = .success(configuration)
            } catch {
                configurations[role] = .failure(error)
            }
        }
    }

    /// Text the tool writes itself (the custody record, an error message) redacted like
    /// any artifact: a command line or a source may hold a secret or an address.
    func redact(_ bytes: [UInt8]) -> [UInt8] {
        let redactor = StreamRedactor(secrets: secrets, addresses: pseudonyms)
        return (try? bytes.withUnsafeBytes { try redactor.process($0, final: true) }) ?? []
    }

    func redact(_ text: String) -> String {
        String(decoding: redact(Array(text.utf8)), as: UTF8.self)
    }

    // MARK: Artifacts

    mutating func collect(_ spec: ArtifactSpec) -> (ArtifactOutcome, [EvidenceStaging.StagedFile]) {
        var outcome = ArtifactOutcome(name: spec.name, kind: spec.kind, source: nil, status: .failed)
        if staging.budget.isExhausted {
            outcome.error = "the byte budget of \(request.byteBudget) bytes was used up before this artifact"
            return (outcome, [])
        }
        switch spec.source {
        case .configuration(let role):
            return collectConfiguration(role, spec: spec, outcome: outcome)
        case .events(let source), .file(let source):
            let window: Bool
            if case .events = spec.source { window = true } else { window = false }
            switch resolve(source) {
            case .failure(let status, let message):
                outcome.status = status
                outcome.error = message
                return (outcome, [])
            case .success(let path):
                outcome.source = path
                if window { return collectEvents(path, spec: spec, outcome: outcome) }
                let result = stageFile(source: path, archivePath: spec.archivePath, window: false)
                return apply(result, to: outcome)
            }
        case .directory(let source, let windowOnly):
            switch resolve(source) {
            case .failure(let status, let message):
                outcome.status = status
                outcome.error = message
                return (outcome, [])
            case .success(let path):
                outcome.source = path
                return collectDirectory(path, spec: spec, windowOnly: windowOnly, outcome: outcome)
            }
        case .command(let argv, let timeout):
            outcome.source = argv.joined(separator: " ")
            return collectCommand(argv, timeout: timeout ?? request.commandTimeout, spec: spec, outcome: outcome)
        }
    }

    private enum Resolution {
        case success(String)
        case failure(ArtifactOutcome.Status, String)
    }

    private func resolve(_ source: ArtifactSpec.PathSource) -> Resolution {
        switch source {
        case .literal(let path):
            return .success(path)
        case .reference(let reference):
            switch configurations[reference.role] {
            case nil:
                return .failure(.missing, "no --\(reference.role.rawValue)-config was given")
            case .failure(let error)?:
                return .failure(.failed, "the \(reference.role.rawValue) configuration cannot be read: \(error)")
            case .success(let configuration)?:
                guard let path = configuration.resolvedPath(at: reference.keyPath) else {
                    return .failure(.missing, "\(reference.keyPath.joined(separator: ".")) is not set in \(configuration.path)")
                }
                if path == "-" {
                    return .failure(.missing, "\(reference.keyPath.joined(separator: ".")) is standard output in \(configuration.path)")
                }
                return .success(path)
            }
        }
    }

    private func collectConfiguration(_ role: ArtifactSpec.ConfigRole, spec: ArtifactSpec,
                                      outcome: ArtifactOutcome) -> (ArtifactOutcome, [EvidenceStaging.StagedFile]) {
        var outcome = outcome
        switch configurations[role] {
        case nil:
            outcome.status = .missing
            outcome.error = "no --\(role.rawValue)-config was given"
            return (outcome, [])
        case .failure(let error)?:
            outcome.source = error.file
            outcome.error = "cannot be read, so its secrets cannot be found; withheld: \(error)"
            return (outcome, [])
        case .success(let configuration)?:
            outcome.source = configuration.path
            do throws(ForensicsError) {
                let text = try configuration.redactedText()
                let result = stage(archivePath: spec.archivePath, binary: false, window: nil) { body in
                    let bytes = Array(text.utf8)
                    try bytes.withUnsafeBytes { try body($0) }
                }
                return apply(result, to: outcome)
            } catch {
                outcome.error = error.description
                return (outcome, [])
            }
        }
    }

    private func collectCommand(_ argv: [String], timeout: Duration, spec: ArtifactSpec,
                                outcome: ArtifactOutcome) -> (ArtifactOutcome, [EvidenceStaging.StagedFile]) {
        var outcome = outcome
        guard CommandRunner.locate(argv[0]) != nil else {
            outcome.status = .missing
            outcome.error = "command not found: \(argv[0])"
            return (outcome, [])
        }
        var commandResult: CommandRunner.Result?
        let result = stage(archivePath: spec.archivePath, binary: false, window: nil) { body in
            commandResult = try CommandRunner.run(argv, timeout: timeout) { try body($0) }
        }
        let (applied, files) = apply(result, to: outcome)
        var final = applied
        guard let commandResult else { return (final, files) }
        final.exitStatus = commandResult.exitStatus
        let firstLine = commandResult.standardError.split(separator: "\n").first.map(String.init) ?? ""
        let detail = redact(firstLine)
        if commandResult.timedOut {
            final.status = .failed
            final.truncated = files.isEmpty ? nil : true
            final.error = "timed out after \(ConfigText.format(timeout)); output so far kept"
        } else if let signal = commandResult.signal {
            final.status = .failed
            final.error = "killed by signal \(signal)" + (detail.isEmpty ? "" : ": \(detail)")
        } else if let status = commandResult.exitStatus, status != 0 {
            final.status = .failed
            final.error = "exit status \(status)" + (detail.isEmpty ? "" : ": \(detail)")
        }
        return (final, files)
    }

    private func collectDirectory(_ path: String, spec: ArtifactSpec, windowOnly: Bool,
                                  outcome: ArtifactOutcome) -> (ArtifactOutcome, [EvidenceStaging.StagedFile]) {
        var outcome = outcome
        var info = stat()
        guard stat(path, &info) == 0 else {
            outcome.status = errno == ENOENT ? .missing : .failed
            outcome.error = "\(path): \(String(cString: strerror(errno)))"
            return (outcome, [])
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            outcome.error = "\(path) is not a directory"
            return (outcome, [])
        }
        var files: [String] = []
        var problems: [String] = []
        walk(path, relative: "", depth: 0, into: &files, problems: &problems, windowOnly: windowOnly)
        var staged: [EvidenceStaging.StagedFile] = []
        var truncated = false
        for relative in files.sorted() {
            let archivePath = spec.archivePath + "/" + relative
            guard ArchivePath.isSafe(archivePath) else {
                problems.append("\(relative): a name that cannot be stored safely")
                continue
            }
            if staging.budget.isExhausted {
                problems.append("the byte budget was used up; later files were left out")
                truncated = true
                break
            }
            switch stageFile(source: path + "/" + relative, archivePath: archivePath, window: false) {
            case .staged(let file, let cut, _):
                staged.append(file)
                if cut { truncated = true; problems.append("\(relative): cut at the byte budget") }
            case .empty, .missing:
                continue
            case .failed(let message, let partial):
                problems.append("\(relative): \(message)")
                if let partial { staged.append(partial); truncated = true }
            }
        }
        outcome.bytes = staged.reduce(0) { $0 + $1.size }
        outcome.archivePath = staged.isEmpty ? nil : spec.archivePath
        if truncated { outcome.truncated = true }
        if !problems.isEmpty {
            outcome.status = .failed
            outcome.error = problems.prefix(5).joined(separator: "; ") + (problems.count > 5 ? "; …" : "")
        } else {
            outcome.status = staged.isEmpty ? .empty : .collected
        }
        return (outcome, staged)
    }

    private func walk(_ root: String, relative: String, depth: Int, into files: inout [String],
                      problems: inout [String], windowOnly: Bool) {
        guard depth <= Self.maximumDirectoryDepth else {
            problems.append("\(relative): deeper than \(Self.maximumDirectoryDepth) levels, left out")
            return
        }
        let directory = relative.isEmpty ? root : root + "/" + relative
        guard let handle = opendir(directory) else {
            problems.append("\(relative.isEmpty ? "." : relative): \(String(cString: strerror(errno)))")
            return
        }
        defer { closedir(handle) }
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name == "." || name == ".." { continue }
            let child = relative.isEmpty ? name : relative + "/" + name
            var info = stat()
            guard lstat(root + "/" + child, &info) == 0 else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFDIR:
                walk(root, relative: child, depth: depth + 1, into: &files, problems: &problems, windowOnly: windowOnly)
            case S_IFREG:
                if windowOnly && Int64(info.st_mtim.tv_sec) * 1000 < request.sinceMilliseconds { continue }
                guard files.count < Self.maximumDirectoryFiles else {
                    problems.append("more than \(Self.maximumDirectoryFiles) files; the rest were left out")
                    return
                }
                files.append(child)
            default:
                continue
            }
        }
    }

    // MARK: Staging one stream

    enum StageResult {
        /// The file, whether the budget cut it, and the event lines left out of the window.
        case staged(EvidenceStaging.StagedFile, truncated: Bool, linesOutside: Int?)
        case empty(linesOutside: Int?)
        case missing(String)
        case failed(String, partial: EvidenceStaging.StagedFile?)
    }

    private func apply(_ result: StageResult, to outcome: ArtifactOutcome) -> (ArtifactOutcome, [EvidenceStaging.StagedFile]) {
        var outcome = outcome
        switch result {
        case .staged(let file, let truncated, let outside):
            outcome.status = truncated ? .failed : .collected
            outcome.archivePath = file.archivePath
            outcome.bytes = file.size
            outcome.linesOutsideWindow = outside
            if truncated {
                outcome.truncated = true
                outcome.error = "the byte budget of \(request.byteBudget) bytes was reached; the first \(file.size) bytes were kept"
            }
            return (outcome, [file])
        case .empty(let outside):
            outcome.status = .empty
            outcome.linesOutsideWindow = outside
            return (outcome, [])
        case .missing(let message):
            outcome.status = .missing
            outcome.error = message
            return (outcome, [])
        case .failed(let message, let partial):
            outcome.status = .failed
            outcome.error = message
            if let partial {
                outcome.archivePath = partial.archivePath
                outcome.bytes = partial.size
            }
            return (outcome, partial.map { [$0] } ?? [])
        }
    }

    /// True for this snapshot's own staging files and for archives this tool writes.
    private func isOwnOutput(_ path: String) -> Bool {
        guard let real = Self.realPath(path) else { return false }
        if let ownStagingDirectory, real.hasPrefix(ownStagingDirectory + "/") { return true }
        let parts = real.split(separator: "/", omittingEmptySubsequences: false)
        let directory = parts.dropLast().joined(separator: "/")
        let name = parts.last.map(String.init) ?? ""
        let ours = name.hasPrefix(EvidenceSnapshot.archivePrefix) || name.hasPrefix("." + EvidenceSnapshot.archivePrefix)
            || name.hasPrefix(".mtforensics-staging-")
        return ours && (directory == ownOutputDirectory || name.hasPrefix("."))
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The live event file and its rotations (`events.jsonl.1`, `events.jsonl.2.gz`, …,
    /// gzip ones decompressed) that may hold lines of the window: a rotation last written
    /// before the window began holds none and is passed over.
    private func collectEvents(_ path: String, spec: ArtifactSpec,
                               outcome: ArtifactOutcome) -> (ArtifactOutcome, [EvidenceStaging.StagedFile]) {
        var candidates: [(source: String, archivePath: String, gzip: Bool)] = [(path, spec.archivePath, false)]
        for number in 1...Self.maximumRotations {
            var found = false
            for (suffix, gzip) in [("", false), (".gz", true)] {
                let source = "\(path).\(number)\(suffix)"
                var info = stat()
                guard stat(source, &info) == 0 else { continue }
                found = true
                if Int64(info.st_mtim.tv_sec) * 1000 + 999 < request.sinceMilliseconds { continue }
                candidates.append((source, "\(spec.archivePath).\(number)", gzip))
            }
            if !found { break }
        }
        var (first, staged) = apply(stageFile(source: path, archivePath: spec.archivePath, window: true), to: outcome)
        var outside = first.linesOutsideWindow ?? 0
        var problems = first.status == .failed ? [first.error ?? "failed"] : []
        for candidate in candidates.dropFirst() {
            if staging.budget.isExhausted {
                problems.append("the byte budget was used up; older rotations were left out")
                break
            }
            let (rotated, files) = apply(stageFile(source: candidate.source, archivePath: candidate.archivePath,
                                                   window: true, gzip: candidate.gzip), to: outcome)
            outside += rotated.linesOutsideWindow ?? 0
            staged += files
            if rotated.status == .failed { problems.append("\(candidate.source): \(rotated.error ?? "failed")") }
            if rotated.truncated == true { first.truncated = true }
        }
        first.linesOutsideWindow = outside
        first.bytes = staged.isEmpty ? nil : staged.reduce(0) { $0 + $1.size }
        first.archivePath = staged.first?.archivePath
        if !problems.isEmpty {
            first.status = .failed
            first.error = problems.prefix(5).joined(separator: "; ")
        } else if !staged.isEmpty {
            first.status = .collected
            first.error = nil
        } else if first.status == .missing && candidates.count > 1 {
            first.status = .empty
            first.error = nil
        }
        return (first, staged)
    }

    static let maximumRotations = 30

    private func stageFile(source: String, archivePath: String, window: Bool, gzip: Bool = false) -> StageResult {
        var info = stat()
        guard stat(source, &info) == 0 else {
            if errno == ENOENT { return .missing("\(source) does not exist") }
            return .failed("\(source): \(String(cString: strerror(errno)))", partial: nil)
        }
        guard info.st_mode & S_IFMT == S_IFREG else { return .failed("\(source) is not a regular file", partial: nil) }
        guard !isOwnOutput(source) else { return .failed("\(source) is this tool's own output; not collected", partial: nil) }
        // A live SQLite database (the auditor's state, in WAL mode) is read through a
        // consistent copy: its main file alone misses what the WAL still holds.
        var readPath = source
        if !gzip && DatabaseCopy.isDatabase(source) {
            let copyPath = staging.directory + "/database-" + SecureRandom.bytes(8).hexString
            do {
                try DatabaseCopy.copy(from: source, to: copyPath)
            } catch {
                unlink(copyPath)
                return .failed("\(error)", partial: nil)
            }
            readPath = copyPath
        }
        defer { if readPath != source { unlink(readPath) } }
        let input: ByteSource
        do {
            let file = try FileInput(path: readPath)
            input = gzip ? try GzipReader(input: file) : file
        } catch {
            return .failed("\(error)", partial: nil)
        }
        var head = [UInt8](repeating: 0, count: 64 * 1024)
        let headCount: Int
        do {
            headCount = try head.withUnsafeMutableBytes { try input.readFully(into: $0) }
        } catch {
            return .failed("\(error)", partial: nil)
        }
        let binary = head[..<min(headCount, 8192)].contains(0)
        if binary && pseudonyms != nil {
            return .failed("binary content cannot be searched for client addresses; withheld under --redact", partial: nil)
        }
        let filter = window && !binary
            ? EventWindowFilter(sinceMilliseconds: request.sinceMilliseconds, untilMilliseconds: request.untilMilliseconds)
            : nil
        return stage(archivePath: archivePath, binary: binary, window: filter) { body in
            try head.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[..<headCount])) }
            var buffer = [UInt8](repeating: 0, count: 256 * 1024)
            while true {
                let count = try buffer.withUnsafeMutableBytes { try input.read(into: $0) }
                if count == 0 { break }
                try buffer.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
            }
        }
    }

    /// Streams whatever `produce` feeds through the window filter and the redactor into a
    /// staged file, hashing on the way.
    private func stage(archivePath: String, binary: Bool, window: EventWindowFilter?,
                       produce: (_ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Void) -> StageResult {
        let writer: StagingWriter
        do {
            writer = try staging.makeFile(for: archivePath)
        } catch {
            return .failed("cannot stage: \(error)", partial: nil)
        }
        let redactor = StreamRedactor(secrets: secrets, addresses: binary ? nil : pseudonyms,
                                      mode: binary ? .refuseIfFound : .rewrite)
        func feed(_ bytes: UnsafeRawBufferPointer, final: Bool) throws {
            if let window {
                let kept = window.process(bytes, final: final)
                try writer.write(try kept.withUnsafeBytes { try redactor.process($0, final: final) })
            } else {
                try writer.write(try redactor.process(bytes, final: final))
            }
        }
        do {
            try produce { try feed($0, final: false) }
            try feed(UnsafeRawBufferPointer(start: nil, count: 0), final: true)
        } catch is BudgetExhausted {
            do {
                let file = try writer.finish()
                return .staged(file, truncated: true, linesOutside: window?.linesOutside)
            } catch {
                writer.discard()
                return .failed("\(error)", partial: nil)
            }
        } catch let found as StreamRedactor.Found {
            writer.discard()
            return .failed("binary content holds \(found.what) and cannot be redacted; withheld", partial: nil)
        } catch CommandRunner.Failure.notFound(let name) {
            writer.discard()
            return .missing("command not found: \(name)")
        } catch {
            writer.discard()
            return .failed("\(error)", partial: nil)
        }
        guard writer.size > 0 else {
            writer.discard()
            return .empty(linesOutside: window?.linesOutside)
        }
        do {
            return .staged(try writer.finish(), truncated: false, linesOutside: window?.linesOutside)
        } catch {
            writer.discard()
            return .failed("\(error)", partial: nil)
        }
    }
}
