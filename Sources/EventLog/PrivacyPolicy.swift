/// Applies a `PrivacyMode` to an event before it is written: the one place that
/// decides which address-related fields and how exact figures reach the log.
/// Producers fill `sourceIP`, `sourcePort` and exact figures; this removes, hashes or
/// rounds them.
public struct PrivacyPolicy: Sendable {
    public let mode: PrivacyMode
    private let hasher: IPHasher

    /// - Parameter hasher: keys `source.ip_hash`; share one with the blocklist so that
    ///   `ip_hash` decisions match what the log shows.
    public init(mode: PrivacyMode, hasher: IPHasher = IPHasher()) {
        self.mode = mode
        self.hasher = hasher
    }

    /// The event as the log may show it:
    /// - `full`: `source.ip` and `source.port` as given, `source.prefix` added;
    /// - `minimized`: abuse evidence (`EventAction.isAbuseEvidence`) keeps `source.ip`,
    ///   `source.port` and gains `source.prefix`; every other event has its address
    ///   replaced by `source.ip_hash` and `source.prefix` and loses its port. Byte
    ///   counts are rounded up to a multiple of 1024, durations up to whole seconds;
    /// - `none`: no `source.ip`, `source.port`, `source.ip_hash` or `source.prefix`;
    ///   figures rounded as in `minimized`.
    /// An address that does not parse is never written, except in `full` mode.
    public func apply(to event: Event) -> Event {
        var event = event
        let address = event.sourceIP.flatMap { IPAddress($0) }
        switch mode {
        case .full:
            if let address, event.sourcePrefix == nil {
                event.sourcePrefix = address.eventPrefix.description
            }
        case .minimized:
            if event.action.isAbuseEvidence {
                event.sourceIP = address?.description
                if let address, event.sourcePrefix == nil {
                    event.sourcePrefix = address.eventPrefix.description
                }
            } else {
                event.sourceIP = nil
                event.sourcePort = nil
                if let address {
                    event.sourceIPHashValue = hasher.pseudonym(of: address, nowMilliseconds: event.timestampMilliseconds)
                    event.sourcePrefix = address.eventPrefix.description
                }
            }
            Self.roundFigures(of: &event)
        case .none:
            event.sourceIP = nil
            event.sourcePort = nil
            event.sourceIPHash = nil
            event.sourcePrefix = nil
            Self.roundFigures(of: &event)
        }
        return event
    }

    private static func roundFigures(of event: inout Event) {
        event.bytesIn = event.bytesIn.map { roundedUp($0, toMultipleOf: 1024) }
        event.bytesOut = event.bytesOut.map { roundedUp($0, toMultipleOf: 1024) }
        event.durationMilliseconds = event.durationMilliseconds.map { roundedUp($0, toMultipleOf: 1000) }
    }

    /// Saturates at the largest multiple that fits rather than wrapping.
    static func roundedUp(_ value: UInt64, toMultipleOf unit: UInt64) -> UInt64 {
        let (quotient, remainder) = value.quotientAndRemainder(dividingBy: unit)
        let units = remainder == 0 ? quotient : quotient + 1
        let (rounded, overflow) = units.multipliedReportingOverflow(by: unit)
        return overflow ? UInt64.max / unit * unit : rounded
    }
}
