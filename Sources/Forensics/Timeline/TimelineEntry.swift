import EventLog

/// One line of an incident timeline: something that happened, when, where it was read.
public struct TimelineEntry: Sendable, Hashable {
    public enum Source: String, Sendable, Hashable, CaseIterable {
        /// A proxy event.
        case proxy
        /// An auditor alert or decision.
        case auditor
        /// A runbook journal entry.
        case journal
    }

    /// Milliseconds since the epoch.
    public var time: Int64
    public var source: Source
    /// `handshake.failed`, `decision`, `alert`, `step.done`, …
    public var kind: String
    /// The address, network or address hash the entry is about, if any.
    public var subject: String?
    /// The rest, as ordered name/value pairs (`reason=bad_secret`, `rule=…`).
    public var details: [Detail]
    /// Where the entry was read: `file:line`.
    public var origin: String

    public struct Detail: Sendable, Hashable {
        public var name: String
        public var value: String

        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(time: Int64, source: Source, kind: String, subject: String?, details: [Detail], origin: String) {
        self.time = time
        self.source = source
        self.kind = kind
        self.subject = subject
        self.details = details
        self.origin = origin
    }
}

extension TimelineEntry {
    /// A proxy event as a timeline entry: the fields an investigator reads first.
    init(event: Event, origin: String) {
        var details: [Detail] = []
        func add(_ name: String, _ value: (some CustomStringConvertible)?) {
            if let value { details.append(Detail(name, value.description)) }
        }
        add("outcome", event.outcome?.rawValue)
        add("reason", event.reason)
        add("transport", event.transport?.rawValue)
        add("dc", event.dc)
        add("secret", event.secretName)
        add("session", event.sessionID)
        add("instance", event.instance)
        add("bytes_in", event.bytesIn)
        add("bytes_out", event.bytesOut)
        add("duration_ms", event.durationMilliseconds)
        add("message", event.message)
        for key in event.labels.keys.sorted() { details.append(Detail("labels." + key, event.labels[key]!)) }
        self.init(time: event.timestampMilliseconds, source: .proxy, kind: event.action.rawValue,
                  subject: event.sourceIP ?? event.sourceIPHash ?? event.sourcePrefix, details: details, origin: origin)
    }
}
