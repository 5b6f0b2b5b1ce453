/// How the proxy judges and answers fake-TLS hellos. Every default is set here, once.
public struct FakeTLSSettings: Sendable, Hashable {
    /// Which server names an authenticated hello may carry. Not authentication: the HMAC
    /// is; this only narrows what a holder of the key may ask for.
    public enum ServerNamePolicy: String, Sendable, Hashable, CaseIterable {
        /// Any name (alexbers' behaviour; survives links with junk after the domain).
        case any
        /// A name equal to the domain of the secret that authenticated (mtg's behaviour).
        /// A secret without a domain imposes nothing.
        case match
    }

    /// Seconds the client's timestamp may lie behind the proxy's clock. The past side is
    /// also the side a recorded hello ages along, so it is kept the shorter one.
    public var maximumTimestampLag: Int64 = 600
    /// Seconds the client's timestamp may lie ahead of the proxy's clock.
    ///
    /// Generous on purpose (alexbers' −1200/+600): tdlib signs with
    /// `now + server_time_difference`, but a phone that has not yet reached a DC, or whose
    /// owner set the clock by hand, sends its raw clock, and those drift by minutes. mtg's
    /// 3 s and telemt's 120 s lock such phones out. The ReplayFilter's time to live must
    /// cover lag + lead (30 minutes here) so that no hello is replayable inside the window.
    public var maximumTimestampLead: Int64 = 1200
    public var serverNamePolicy: ServerNamePolicy = .any
    /// Accept hellos without a `server_name` (reported from some iOS and desktop builds).
    public var allowMissingServerName: Bool = true
    /// Payload length of the single ApplicationData record ("certificate") in the
    /// ServerHello flight. Real certificate chains of HTTPS sites land here; the official
    /// proxy's fallback is 2500–3619, mtg's 2500–4699. Clamped to 1…16 384.
    public var certificateLengths: ClosedRange<Int> = 2500...4600

    /// The narrowest acceptance window the replay filter must cover, in seconds.
    public var timestampWindow: Int64 { maximumTimestampLag + maximumTimestampLead }

    public init() {}
}
