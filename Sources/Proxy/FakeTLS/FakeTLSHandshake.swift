import EventLog
import NIOCore

/// The fake-TLS handshake of one connection, from the first client byte to the
/// ServerHello flight (PROTOCOL.md §4.3–4.4, §5). Pure: no channel; time is passed in.
///
/// A handler feeds every chunk the client sends to `received` and acts on the answer.
/// Order of checks: reassembly and parsing, digest, timestamp, SNI policy, and only then
/// the replay filter, so unauthenticated bytes never touch the shared filter.
public struct FakeTLSHandshake: Sendable {
    public enum Action: Sendable {
        /// Keep reading.
        case readMore
        /// The client does not speak TLS: `consumed` is every byte read, for whatever the
        /// listener does with non-TLS clients (obfuscated2 or fronting).
        case notTLS(consumed: ByteBuffer)
        /// Refuse and front: `consumed` is every byte read, to replay to the real site.
        /// `reason` is the `handshake.failed` reason; `secret` the secret whose digest
        /// matched, if one did.
        case fail(reason: String, secret: ProxySecret?, consumed: ByteBuffer)
        /// Authenticated and fresh: write `flight` to the client, then unwrap its records
        /// with a `FakeTLSRecordDecoder`, beginning with `trailing`; the stream inside is
        /// obfuscated2 with `hello.secret`'s key.
        case reply(flight: [UInt8], hello: AuthenticatedHello, trailing: ByteBuffer)
    }

    private var reader = ClientHelloReader()
    private var decided = false
    private let secrets: [ProxySecret]
    private let verifier: ClientHelloVerifier
    private let replayFilter: ReplayFilter?

    /// - Parameter replayFilter: nil when replay protection is turned off.
    public init(secrets: [ProxySecret], settings: FakeTLSSettings, replayFilter: ReplayFilter?) {
        self.secrets = secrets
        self.verifier = ClientHelloVerifier(settings: settings)
        self.replayFilter = replayFilter
    }

    /// Every byte read so far: what a timeout or an early EOF hands to the fronting site.
    public var bytesRead: ByteBuffer { reader.bytesRead }

    /// - Parameters:
    ///   - unixTime: wall-clock seconds, for the hello's timestamp.
    ///   - now: monotonic time, for the replay filter.
    /// After the first answer other than `readMore` the handshake is over; the caller
    /// routes later bytes (to the record decoder or the fronting connection).
    public mutating func received(_ chunk: ByteBuffer, unixTime: Int64, now: NIODeadline) -> Action {
        guard !decided else { return .readMore }
        let step = reader.read(chunk)
        if case .needMoreBytes = step { return .readMore }
        decided = true
        switch step {
        case .needMoreBytes:
            return .readMore
        case .notTLS(let received):
            return .notTLS(consumed: received)
        case .malformed(let error, let received):
            return .fail(reason: error.reason, secret: nil, consumed: received)
        case .hello(let hello, let received, let trailing):
            var consumed = received
            consumed.writeImmutableBuffer(trailing)
            switch verifier.verify(hello, secrets: secrets, now: unixTime) {
            case .rejected(let error, let secret):
                return .fail(reason: error.reason, secret: secret, consumed: consumed)
            case .accepted(let authenticated):
                if let replayFilter, !replayFilter.checkAndInsert(authenticated.replayKey, now: now) {
                    return .fail(reason: EventReason.replay, secret: authenticated.secret, consumed: consumed)
                }
                let flight = ServerHelloFlight.make(for: authenticated, settings: verifier.settings)
                return .reply(flight: flight, hello: authenticated, trailing: trailing)
            }
        }
    }
}
