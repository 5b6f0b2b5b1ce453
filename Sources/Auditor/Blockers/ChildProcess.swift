#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOPosix

/// Runs one program with an argument vector (never through a shell), feeds it `input` on
/// standard input, keeps its standard output and error (bounded), and kills it when it
/// outlives `timeout`. Blocking: blockers call it from a thread-pool thread.
struct ChildProcess {
    static let searchPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    static let maximumOutput = 1 << 20

    struct Result: Sendable {
        var exitStatus: Int32?
        var signal: Int32?
        var timedOut: Bool
        var output: [UInt8]
        var errorOutput: String

        var succeeded: Bool { exitStatus == 0 && !timedOut }

        /// What went wrong, for a log line: the exit status and the first lines of standard error.
        var failure: String {
            var text = timedOut ? "timed out" : exitStatus.map { "exited with status \($0)" } ?? "killed by signal \(signal ?? 0)"
            let detail = errorOutput.split(separator: "\n").prefix(4).joined(separator: " / ")
            if !detail.isEmpty { text += ": " + detail }
            return text
        }
    }

    struct LaunchFailure: Error, Sendable {
        var message: String
    }

    static func run(_ argv: [String], input: [UInt8] = [], timeout: Duration) throws(LaunchFailure) -> Result {
        guard let program = argv.first, !program.isEmpty else { throw LaunchFailure(message: "empty command") }
        ignoreBrokenPipes
        var inputPipe: [Int32] = [-1, -1], outputPipe: [Int32] = [-1, -1], errorPipe: [Int32] = [-1, -1]
        guard makePipe(&inputPipe) else { throw LaunchFailure(message: "pipe: \(String(cString: strerror(errno)))") }
        guard makePipe(&outputPipe) else {
            closeAll(inputPipe)
            throw LaunchFailure(message: "pipe: \(String(cString: strerror(errno)))")
        }
        guard makePipe(&errorPipe) else {
            closeAll(inputPipe + outputPipe)
            throw LaunchFailure(message: "pipe: \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inputPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outputPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errorPipe[1], 2)

        // The child starts with default signal dispositions and an empty mask, whatever the daemon set for itself.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGHUP, SIGQUIT] { sigaddset(&defaults, signal) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        // Looked up in a fixed PATH rather than the caller's, so the program run is predictable.
        let executable = program.contains("/") ? program : (locate(program) ?? program)
        let environment = ["PATH=\(searchPath)", "LC_ALL=C"]
        var pid: pid_t = 0
        var spawned: Int32 = 0
        for attempt in 0..<5 {
            spawned = withCStrings(argv) { arguments in
                withCStrings(environment) { variables in
                    posix_spawn(&pid, executable, &actions, &attributes, arguments, variables)
                }
            }
            // ETXTBSY: a script just rewritten is still open for writing in a process forked meanwhile.
            guard spawned == ETXTBSY else { break }
            usleep(useconds_t(10_000 << attempt))
        }
        close(inputPipe[0])
        close(outputPipe[1])
        close(errorPipe[1])
        guard spawned == 0 else {
            closeAll([inputPipe[1], outputPipe[0], errorPipe[0]])
            throw LaunchFailure(message: "cannot run \(program): \(String(cString: strerror(spawned)))")
        }

        var writer = inputPipe[1]
        if input.isEmpty {
            close(writer)
            writer = -1
        } else {
            _ = fcntl(writer, F_SETFL, fcntl(writer, F_GETFL) | O_NONBLOCK)
        }
        var readers = [outputPipe[0], errorPipe[0]]
        var collected: [[UInt8]] = [[], []]
        var written = 0
        let deadline = ContinuousClock.now + timeout
        var timedOut = false
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while writer >= 0 || readers[0] >= 0 || readers[1] >= 0 {
            let left = deadline - ContinuousClock.now
            if left <= .zero {
                timedOut = true
                break
            }
            var descriptors = [pollfd(fd: writer, events: Int16(POLLOUT), revents: 0),
                               pollfd(fd: readers[0], events: Int16(POLLIN), revents: 0),
                               pollfd(fd: readers[1], events: Int16(POLLIN), revents: 0)]
            let milliseconds = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
            if poll(&descriptors, 3, milliseconds) < 0 {
                if errno == EINTR { continue }
                break
            }
            if writer >= 0, descriptors[0].revents != 0 {
                let count = input[written...].withUnsafeBytes { write(writer, $0.baseAddress, min($0.count, 1 << 16)) }
                if count > 0 { written += count }
                if written == input.count || (count < 0 && errno != EAGAIN && errno != EINTR) {
                    close(writer)
                    writer = -1
                }
            }
            for index in 0..<2 where readers[index] >= 0 && descriptors[index + 1].revents != 0 {
                let count = buffer.withUnsafeMutableBytes { read(readers[index], $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 {
                    close(readers[index])
                    readers[index] = -1
                } else if collected[index].count < maximumOutput {
                    collected[index] += buffer[..<min(count, maximumOutput - collected[index].count)]
                }
            }
        }
        closeAll([writer] + readers)
        if timedOut { kill(pid, SIGKILL) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let signal = status & 0x7f
        return Result(exitStatus: signal == 0 ? (status >> 8) & 0xff : nil, signal: signal == 0 ? nil : signal,
                      timedOut: timedOut, output: collected[0], errorOutput: String(decoding: collected[1], as: UTF8.self))
    }

    /// Threads of their own for waiting on children: neither Swift's cooperative pool nor NIO's
    /// shared pool (where the state store's queries run) is held while a command runs.
    private static let threads: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        return pool
    }()

    /// One thread for file writes that must land in the order they were asked for.
    static let orderedWrites: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        return pool
    }()

    /// `run` on one of the child-process threads, so that waiting for the child blocks no task.
    static func runOffloaded(_ argv: [String], input: [UInt8] = [], timeout: Duration) async throws(LaunchFailure) -> Result {
        do {
            return try await threads.runIfActive { () throws(LaunchFailure) -> Result in
                try run(argv, input: input, timeout: timeout)
            }
        } catch let failure as LaunchFailure {
            throw failure
        } catch {
            throw LaunchFailure(message: "cannot run \(argv.first ?? ""): \(error)")
        }
    }

    /// A program named without a slash, looked up in `searchPath`.
    static func locate(_ name: String) -> String? {
        for directory in searchPath.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// A child that exits before reading all its input must not kill the auditor with SIGPIPE.
    private static let ignoreBrokenPipes: Void = {
        signal(SIGPIPE, SIG_IGN)
    }()

    private static func makePipe(_ ends: inout [Int32]) -> Bool {
        guard pipe(&ends) == 0 else { return false }
        for end in ends { _ = fcntl(end, F_SETFD, FD_CLOEXEC) }
        return true
    }

    private static func closeAll(_ descriptors: [Int32]) {
        for descriptor in descriptors where descriptor >= 0 { close(descriptor) }
    }

    private static func withCStrings<T>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> T) -> T {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for pointer in pointers { free(pointer) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
