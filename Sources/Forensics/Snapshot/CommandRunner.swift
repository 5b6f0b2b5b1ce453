import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs one evidence command: looked up in a fixed PATH, with no input, the C locale,
/// its standard output streamed to the caller and its standard error kept (bounded),
/// stopped with SIGTERM and then SIGKILL when it outlives its timeout.
struct CommandRunner {
    static let searchPath = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    static let maximumStandardError = 4096

    struct Result {
        var exitStatus: Int32?
        var signal: Int32?
        var timedOut: Bool
        var standardError: String
    }

    enum Failure: Error {
        case notFound(String)
        case launch(String)
    }

    /// The executable a command name stands for, or nil when there is none.
    static func locate(_ name: String) -> String? {
        if name.contains("/") { return access(name, X_OK) == 0 ? name : nil }
        for directory in searchPath {
            let candidate = directory + "/" + name
            var info = stat()
            if stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        return nil
    }

    /// Runs `argv`; `output` receives standard output as it comes and may throw to stop it.
    static func run(_ argv: [String], timeout: Duration,
                    output: (UnsafeRawBufferPointer) throws -> Void) throws -> Result {
        guard let executable = locate(argv[0]) else { throw Failure.notFound(argv[0]) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = Array(argv.dropFirst())
        process.environment = ["PATH": searchPath.joined(separator: ":"), "LC_ALL": "C", "COLUMNS": "4096"]
        process.standardInput = FileHandle.nullDevice
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        do {
            try process.run()
        } catch {
            throw Failure.launch("\(error)")
        }
        InterruptCleanup.register(child: process.processIdentifier)
        defer { InterruptCleanup.unregister(child: process.processIdentifier) }
        try? stdout.fileHandleForWriting.close()
        try? stderr.fileHandleForWriting.close()

        let deadline = ContinuousClock.now + timeout
        var errorBytes: [UInt8] = []
        var timedOut = false
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var descriptors = [
            pollfd(fd: stdout.fileHandleForReading.fileDescriptor, events: Int16(POLLIN), revents: 0),
            pollfd(fd: stderr.fileHandleForReading.fileDescriptor, events: Int16(POLLIN), revents: 0),
        ]
        var open = [true, true]
        var stopError: Error?
        while open[0] || open[1] {
            let left = deadline - ContinuousClock.now
            if left <= .zero { timedOut = true; break }
            let milliseconds = Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1)
            for index in 0..<2 { descriptors[index].fd = open[index] ? descriptors[index].fd : -1 }
            let ready = poll(&descriptors, 2, milliseconds)
            if ready < 0 {
                if errno == EINTR { continue }
                break
            }
            for index in 0..<2 where open[index] && descriptors[index].revents != 0 {
                let count = buffer.withUnsafeMutableBytes { read(descriptors[index].fd, $0.baseAddress, $0.count) }
                if count < 0 && errno == EINTR { continue }
                if count <= 0 { open[index] = false; continue }
                if index == 0 {
                    do {
                        try buffer.withUnsafeBytes { try output(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
                    } catch {
                        stopError = error
                        open = [false, false]
                    }
                } else if errorBytes.count < maximumStandardError {
                    errorBytes += buffer[..<min(count, maximumStandardError - errorBytes.count)]
                }
            }
        }
        if process.isRunning && (timedOut || stopError != nil) {
            process.terminate()
            let grace = ContinuousClock.now + .seconds(1)
            while process.isRunning && ContinuousClock.now < grace { usleep(10_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        try? stdout.fileHandleForReading.close()
        try? stderr.fileHandleForReading.close()
        if let stopError { throw stopError }
        let exited = process.terminationReason == .exit
        return Result(exitStatus: exited ? process.terminationStatus : nil,
                      signal: exited ? nil : process.terminationStatus,
                      timedOut: timedOut,
                      standardError: String(decoding: errorBytes, as: UTF8.self))
    }
}
