import Synchronization

/// Keeps every event in memory, in emission order; for tests of event producers.
public final class RecordingEventSink: EventSink {
    private let recorded = Mutex<[Event]>([])

    public init() {}

    public func emit(_ event: Event) {
        recorded.withLock { $0.append(event) }
    }

    public var events: [Event] { recorded.withLock { $0 } }

    public func events(withAction action: EventAction) -> [Event] {
        recorded.withLock { $0.filter { $0.action == action } }
    }

    public func removeAll() {
        recorded.withLock { $0.removeAll() }
    }
}
