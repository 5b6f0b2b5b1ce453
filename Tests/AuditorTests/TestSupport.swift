import Auditor
import EventLog
import Foundation

enum TestFiles {
    /// The package's root, for the shipped `rules/` directory.
    static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    static var shippedRules: String { packageRoot + "/rules" }

    static func resource(_ name: String) throws -> String {
        guard let url = Bundle.module.url(forResource: name, withExtension: nil) else {
            throw TestFailure("missing test resource \(name)")
        }
        return url.path
    }

    static func contents(of directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Replays files through an engine and collects the output lines.
func replay(_ engine: RuleEngine, paths: [String]) throws -> (lines: [String], malformed: [EventDecodingError], summary: Replay.Summary) {
    var lines: [String] = []
    var malformed: [EventDecodingError] = []
    let summary = try Replay(engine: engine).run(paths: paths, output: { lines.append($0) }, malformed: { malformed.append($0) })
    return (lines, malformed, summary)
}

extension Event {
    static func at(_ seconds: Double, _ action: EventAction, ip: String? = nil, reason: String? = nil) -> Event {
        Event(timestampMilliseconds: 1_780_000_000_000 + Int64(seconds * 1000), action: action, reason: reason, sourceIP: ip)
    }
}

/// A thread of its own for the tasks that prefer it (`executorPreference:`): a service under
/// test goes round by round while the full suite on two cores keeps the cooperative pool
/// busy for minutes, as `mtauditor run` goes on in a process of its own. Stopped by
/// `shutdown()`, after the tasks that use it have ended.
final class DedicatedThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var stopping = false

    init(name: String) {
        let thread = Thread { [self] in serve() }
        thread.name = name
        thread.start()
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.withLock {
            jobs.append(job)
            condition.signal()
        }
    }

    func shutdown() {
        condition.withLock {
            stopping = true
            condition.signal()
        }
    }

    private func serve() {
        while true {
            let next: UnownedJob? = condition.withLock {
                while jobs.isEmpty && !stopping { condition.wait() }
                return jobs.isEmpty ? nil : jobs.removeFirst()
            }
            guard let next else { return }
            next.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
