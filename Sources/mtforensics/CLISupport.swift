import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

/// A failure the command reports in one line on standard error, with its exit status.
struct CLIFailure: Error, CustomStringConvertible {
    var message: String
    var status: Int32
    var description: String { message }
}

enum ProcessEnvironment {
    static var current: [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }
}

func writeError(_ text: String) {
    var bytes = Array(text.utf8)
    _ = bytes.withUnsafeMutableBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

func printError(_ line: String) {
    writeError(line + "\n")
}

extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self + " " : self + String(repeating: " ", count: width - count)
    }
}

/// Runs a subcommand body, turning CLIFailure into a message and an exit status.
func reporting(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let failure as CLIFailure {
        printError("mtforensics: " + failure.message)
        throw ExitCode(failure.status)
    }
}
