/// Where producers put events. `emit` never blocks and never fails: an implementation
/// that cannot keep up drops and counts (see `EventWriter`).
///
/// Producers fill `sourceIP` and exact figures; the sink applies the privacy mode
/// (`PrivacyPolicy`) before anything is written, so that decision lives in one place.
public protocol EventSink: Sendable {
    func emit(_ event: Event)
}

/// Discards everything; for tests and for `events.path` unset.
public struct DiscardingEventSink: EventSink {
    public init() {}
    public func emit(_ event: Event) {}
}
