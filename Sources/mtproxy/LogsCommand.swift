#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import EventLog
import Proxy

struct LogsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs",
        abstract: "Print the last events, one readable line each.",
        discussion: """
        Reads events.path of --config, or --events when the events go to standard output \
        (`make run` keeps them in run/events.jsonl). Lines that are not events are skipped; \
        a damaged event line is shown as such.
        """
    )

    @Option(help: ArgumentHelp("The proxy configuration, for events.path.", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("The event file, when events.path is \"-\" or no --config is given.", valueName: "file"))
    var events: String?

    @Option(name: .short, help: ArgumentHelp("How many events (at most 100000).", valueName: "N"))
    var n: Int = 20

    func validate() throws {
        guard (1...100_000).contains(n) else { throw ValidationError("-n must be between 1 and 100000") }
        if config == nil && events == nil { throw ValidationError("give --config or --events") }
    }

    func run() throws {
        var path = events
        if let config {
            let configuration: ProxyConfiguration
            do {
                configuration = try ProxyConfiguration.load(path: config)
            } catch {
                printError("error: \(error)")
                throw ExitCode.failure
            }
            if let eventsPath = configuration.events.path, eventsPath != "-" { path = eventsPath }
        }
        guard let path else {
            printError("error: events go to standard output in \(config ?? "the configuration"); give --events with the file they were captured in")
            throw ExitCode.failure
        }
        let lines: [[UInt8]]
        do {
            lines = try EventFileTail.lastLines(path: path, count: n)
        } catch {
            printError("error: \(path): \(error)")
            throw ExitCode.failure
        }
        for line in lines {
            print(EventLine.render(line))
        }
    }
}

/// The last lines of an event file that look like events (start with `{`), read backwards
/// in blocks so a large file costs only its tail.
enum EventFileTail {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func lastLines(path: String, count: Int) throws(Failure) -> [[UInt8]] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw Failure(description: String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var end = lseek(descriptor, 0, SEEK_END)
        guard end >= 0 else { throw Failure(description: String(cString: strerror(errno))) }
        var pending: [UInt8] = []
        var found: [[UInt8]] = []
        let blockSize = 64 * 1024
        while end > 0 && found.count < count {
            let start = max(0, end - off_t(blockSize))
            var block = [UInt8](repeating: 0, count: Int(end - start))
            let read = block.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, start) }
            guard read == block.count else { throw Failure(description: "cannot read") }
            pending = block + pending
            end = start
            // Every complete line in `pending`, except its first unless the file starts there.
            var lines = pending.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            let first = lines.removeFirst()
            for line in lines.reversed() where line.first == UInt8(ascii: "{") {
                found.append(Array(line))
                if found.count == count { break }
            }
            pending = Array(first)
            if end == 0, found.count < count, pending.first == UInt8(ascii: "{") { found.append(pending) }
        }
        return found.reversed()
    }
}

/// One event as a line for people: time, action, outcome and reason, then the fields it has.
enum EventLine {
    static func render(_ line: [UInt8]) -> String {
        let event: Event
        do {
            event = try Event(jsonLine: line)
        } catch {
            return "(unreadable event line: \(error.message))"
        }
        var parts = [Event.timestampText(milliseconds: event.timestampMilliseconds),
                     event.action.rawValue.padding(toLength: 20, withPad: " ", startingAt: 0)]
        if let outcome = event.outcome { parts.append(outcome.rawValue) }
        if let reason = event.reason { parts.append(reason) }
        if let ip = event.sourceIP {
            parts.append(event.sourcePort.map { ip.contains(":") ? "[\(ip)]:\($0)" : "\(ip):\($0)" } ?? ip)
        } else if let prefix = event.sourcePrefix {
            parts.append(prefix)
        }
        if let hash = event.sourceIPHash { parts.append("ip_hash=\(hash.prefix(12))") }
        if let secret = event.secretName { parts.append("secret=\(secret)") }
        if let transport = event.transport { parts.append("transport=\(transport.rawValue)") }
        if let dc = event.dc { parts.append("dc=\(dc)") }
        if let bytesIn = event.bytesIn { parts.append("in=\(bytesIn)") }
        if let bytesOut = event.bytesOut { parts.append("out=\(bytesOut)") }
        if let duration = event.durationMilliseconds { parts.append("\(duration)ms") }
        if let session = event.sessionID { parts.append("session=\(session)") }
        for (key, value) in event.labels.sorted(by: { $0.key < $1.key }) { parts.append("\(key)=\(value)") }
        if let message = event.message, event.labels.isEmpty, event.reason == nil { parts.append("\"\(message)\"") }
        return parts.joined(separator: "  ")
    }
}
