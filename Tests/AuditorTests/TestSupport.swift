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
