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
        var readers: [EventFileReader] = []
        let fields = engine.neededFields
        for path in paths {
            let reader = try EventFileReader(path: path)
            reader.fields = fields
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
        func process(_ event: Event, line: Int, from index: Int) throws(AuditorError) {
            summary.events += 1
            findings.removeAll(keepingCapacity: true)
            engine.process(event, into: &findings)
            guard !findings.isEmpty else { return }
            let source = engine.explain ? "\(readers[index].path):\(line)" : nil
            for finding in findings {
                switch finding {
                case .alert: summary.alerts += 1
                case .decision: summary.decisions += 1
                case .match: break
                }
                output(finding.jsonLine(source: source))
            }
            if let reports {
                for (alert, decision) in Finding.alertsWithDecisions(findings) {
                    try reports.write(alert: alert, context: engine.evidence(for: alert, decision: decision))
                    summary.reports += 1
                }
            }
        }

        if readers.count == 1 {
            // Nothing to merge: each line is decoded into the same event, which goes to the
            // rules without being held (and copied) as the head of its file.
            var event = Event(timestampMilliseconds: 0, action: "")
            while let found = try readers[0].next(into: &event) {
                switch found {
                case .event(let line): try process(event, line: line, from: 0)
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
            try process(head.event, line: head.line, from: index)
            heads[index] = try advance(index)
        }
        return summary
    }
}
