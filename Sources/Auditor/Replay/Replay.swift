import EventLog

/// `mtauditor replay`: rules over recorded events in event time.
///
/// Several files are merged by timestamp (the proxies of a fleet, or a log and its
/// rotated predecessors), so detection sees one timeline whatever the order given.
public final class Replay {
    public struct Summary: Sendable, Hashable {
        public var events = 0
        public var malformed = 0
        public var alerts = 0
        public var decisions = 0
        /// Alert reports written (`reports`).
        public var reports = 0
    }

    public let engine: RuleEngine
    /// When set, every alert also writes its report (JSON, Markdown, HTML) there.
    public let reports: AlertReportWriter?

    public init(engine: RuleEngine, reports: AlertReportWriter? = nil) {
        self.engine = engine
        self.reports = reports
        if reports != nil && engine.samplesPerRule == nil { engine.keepEvidence() }
    }

    /// Replays `paths` (`-` is standard input), handing each output line to `output` and
    /// each malformed input line to `malformed`.
    public func run(paths: [String], output: (String) -> Void,
                    malformed: (EventDecodingError) -> Void) throws(AuditorError) -> Summary {
        try run(paths: paths, emit: { finding, source in output(finding.jsonLine(source: source)) }, malformed: malformed)
    }

    /// Replays `paths` as `run(paths:output:malformed:)` does, writing the output lines
    /// (each ending in a newline) into a buffer handed to `write` in blocks of about 64 KiB,
    /// before each malformed line is reported, and at the end; `write` empties it.
    public func run(paths: [String], writing write: (inout [UInt8]) -> Void,
                    malformed: (EventDecodingError) -> Void) throws(AuditorError) -> Summary {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(Self.blockSize + 4096)
        var findingLines = FindingLines()
        // Also when reading fails part way: what was found until then is written.
        defer { if !buffer.isEmpty { write(&buffer) } }
        return try run(paths: paths, emit: { finding, source in
            findingLines.append(finding, source: source, to: &buffer)
            buffer.append(0x0A)
            if buffer.count >= Self.blockSize { write(&buffer) }
        }, malformed: { error in
            if !buffer.isEmpty { write(&buffer) }
            malformed(error)
        })
    }

    static let blockSize = 1 << 16

    private func run(paths: [String], emit: (Finding, String?) -> Void,
                     malformed: (EventDecodingError) -> Void) throws(AuditorError) -> Summary {
        var readers: [EventFileReader] = []
        let fields = engine.neededFields
        let fieldsByAction = engine.neededFieldsByAction
        for path in paths {
            let reader = try EventFileReader(path: path)
            reader.fields = fields
            reader.fieldsByAction = fieldsByAction
            readers.append(reader)
        }
        var heads: [(event: Event, line: Int)?] = []
        var summary = Summary()

        func advance(_ index: Int) throws(AuditorError) -> (event: Event, line: Int)? {
            while let item = try readers[index].next() {
                switch item {
                case .event(let event, let line): return (event, line)
                case .malformed(let error):
                    summary.malformed += 1
                    malformed(error)
                }
            }
            return nil
        }

        var findings: [Finding] = []
        func handle(_ event: Event, line: Int, from reader: EventFileReader) throws(AuditorError) {
            summary.events += 1
            engine.process(event, into: &findings)
            if !findings.isEmpty { try report(line: line, from: reader) }
        }

        /// What the event just processed found. Emptied here rather than before every
        /// event: most events find nothing.
        func report(line: Int, from reader: EventFileReader) throws(AuditorError) {
            defer { findings.removeAll(keepingCapacity: true) }
            let source = engine.explain ? "\(reader.path):\(line)" : nil
            for finding in findings {
                switch finding {
                case .alert: summary.alerts += 1
                case .decision: summary.decisions += 1
                case .match: break
                }
                emit(finding, source)
            }
            if let reports {
                for (alert, decision) in Finding.alertsWithDecisions(findings) {
                    try reports.write(alert: alert, context: engine.evidence(for: alert, decision: decision))
                    summary.reports += 1
                }
            }
        }

        // One file, the common case: no merge, and no copy of each event into a head; each
        // line is decoded into the same event.
        if readers.count == 1 {
            let reader = readers[0]
            var event = Event(timestampMilliseconds: 0, action: "")
            while let found = try reader.next(into: &event) {
                switch found {
                case .event(let line):
                    // Processed in place: through a helper taking the event, each one was
                    // copied (every field retained) and destroyed.
                    summary.events += 1
                    engine.process(event, into: &findings)
                    if !findings.isEmpty { try report(line: line, from: reader) }
                case .malformed(let error):
                    summary.malformed += 1
                    malformed(error)
                }
            }
            return summary
        }

        for index in readers.indices { heads.append(try advance(index)) }
        while true {
            var earliest: Int?
            for index in heads.indices {
                guard let head = heads[index] else { continue }
                if earliest == nil || head.event.timestampMilliseconds < heads[earliest!]!.event.timestampMilliseconds {
                    earliest = index
                }
            }
            guard let index = earliest, let head = heads[index] else { break }
            try handle(head.event, line: head.line, from: readers[index])
            heads[index] = try advance(index)
        }
        return summary
    }
}
