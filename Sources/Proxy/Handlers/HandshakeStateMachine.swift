import EventLog
import NIOCore

/// The client side of a connection until the relay starts: collect exactly the 64-byte
/// init packet, authenticate it, check the transport and the DC, then hold whatever else
/// arrived until the DC leg is up. Pure: no channel, time passed in.
struct HandshakeStateMachine {
    enum Action {
        /// Keep reading.
        case readMore
        /// Nothing to do.
        case none
        /// Refuse the client. `consumed` is every byte read so far, for the failure route
        /// (fronting replays them to the real site).
        case fail(reason: String, consumed: ByteBuffer)
        /// Authenticated: connect to one of `targets`, then call `relayStarted()`.
        case connect(ClientHandshake, transport: ProxyTransport, targets: [UpstreamTarget])
    }

    private enum State {
        case awaitingHeader(ByteBuffer?)
        /// Bytes after the header (kept for the relay) and whether the client already sent EOF.
        case connecting(remainder: ByteBuffer?, inputClosed: Bool)
        case relaying
        case failed
    }

    private var state: State = .awaitingHeader(nil)
    private let settings: ProxySettings
    private let secrets: [ProxySecret]
    private let insideFakeTLS: Bool
    let deadline: NIODeadline

    /// - Parameters:
    ///   - insideFakeTLS: the bytes arrive unwrapped from fake-TLS records, so a successful
    ///     client counts as `.faketls` whatever its tag. The ClientHello's random already
    ///     went through the replay filter, so the init packet does not.
    ///   - secrets: the keys to try; default: every configured secret. Inside fake TLS only
    ///     the secret that signed the hello.
    init(settings: ProxySettings, deadline: NIODeadline, insideFakeTLS: Bool = false, secrets: [ProxySecret]? = nil) {
        self.settings = settings
        self.deadline = deadline
        self.insideFakeTLS = insideFakeTLS
        self.secrets = secrets ?? settings.secrets
    }

    /// Client bytes held while the DC leg opens before reads pause: a client normally sends
    /// its first request right after the init packet, and rarely more before the answer.
    static let connectingReadLimit = 64 * 1024

    /// True while more client bytes are wanted: until the init packet is complete, then
    /// while the DC leg opens, up to `connectingReadLimit`; afterwards reads wait for the relay.
    var wantsInput: Bool {
        switch state {
        case .awaitingHeader: true
        case .connecting(let remainder, let inputClosed):
            !inputClosed && (remainder?.readableBytes ?? 0) < Self.connectingReadLimit
        case .relaying, .failed: false
        }
    }

    /// - Parameter now: monotonic time, for the replay filter.
    mutating func received(_ buffer: ByteBuffer, now: NIODeadline = .now()) -> Action {
        switch state {
        case .awaitingHeader(let pending):
            var collected: ByteBuffer
            if var pending {
                pending.writeImmutableBuffer(buffer)
                collected = pending
            } else {
                collected = buffer
            }
            if !insideFakeTLS, Self.cannotBeObfuscated2(collected) {
                state = .failed
                return .fail(reason: EventReason.malformed, consumed: collected)
            }
            guard collected.readableBytes >= Obfuscated2.headerLength else {
                state = .awaitingHeader(collected)
                return .readMore
            }
            return authenticate(collected, now: now)
        case .connecting(let remainder, let inputClosed):
            var remainder = remainder ?? ByteBuffer()
            remainder.writeImmutableBuffer(buffer)
            state = .connecting(remainder: remainder, inputClosed: inputClosed)
            return .none
        case .relaying, .failed:
            return .none
        }
    }

    /// Clients draw their init packet until it avoids these prefixes (PROTOCOL.md §2.2), so
    /// they are a probe: an HTTP request, a TLS hello, a plain MTProto transport. Deciding
    /// on the first four bytes sends such a prober to the fronting site at once, as the
    /// real site would answer, instead of after the handshake timeout.
    static func cannotBeObfuscated2(_ bytes: ByteBuffer) -> Bool {
        guard let first = bytes.getInteger(at: bytes.readerIndex, as: UInt8.self) else { return false }
        if first == 0xef { return true }
        guard let word = bytes.getInteger(at: bytes.readerIndex, as: UInt32.self) else { return false }
        return UpstreamHandshake.forbiddenFirstWords.contains(word)
    }

    private mutating func authenticate(_ collected: ByteBuffer, now: NIODeadline) -> Action {
        let header = collected.readableBytesView.prefix(Obfuscated2.headerLength)
        let handshake: ClientHandshake
        do {
            handshake = try ClientHandshake.parse(header: header, secrets: secrets)
        } catch {
            state = .failed
            return .fail(reason: error.reason, consumed: collected)
        }
        let transport = handshake.tag.transport(insideFakeTLS: insideFakeTLS)
        guard settings.transports.contains(transport) else {
            state = .failed
            return .fail(reason: EventReason.transportNotAllowed, consumed: collected)
        }
        guard let targets = settings.targets(forDC: handshake.dc) else {
            state = .failed
            return .fail(reason: EventReason.unknownDC, consumed: collected)
        }
        if !insideFakeTLS, let filter = settings.replayFilter {
            let material = header.dropFirst(Obfuscated2.keyAndIVRange.lowerBound).prefix(Obfuscated2.keyAndIVRange.count)
            guard filter.checkAndInsert(material, now: now) else {
                state = .failed
                return .fail(reason: EventReason.replay, consumed: collected)
            }
        }
        let rest = collected.readableBytes - Obfuscated2.headerLength
        let remainder = rest > 0 ? collected.getSlice(at: collected.readerIndex + Obfuscated2.headerLength, length: rest) : nil
        state = .connecting(remainder: remainder, inputClosed: false)
        return .connect(handshake, transport: transport, targets: targets)
    }

    /// The handshake timer fired at `now`.
    mutating func timerFired(now: NIODeadline) -> Action {
        guard case .awaitingHeader(let pending) = state, now >= deadline else { return .none }
        state = .failed
        return .fail(reason: EventReason.timeout, consumed: pending ?? ByteBuffer())
    }

    /// The client sent EOF or went away.
    mutating func inputClosed() -> Action {
        switch state {
        case .awaitingHeader(let pending):
            state = .failed
            return .fail(reason: EventReason.closedEarly, consumed: pending ?? ByteBuffer())
        case .connecting(let remainder, _):
            state = .connecting(remainder: remainder, inputClosed: true)
            return .none
        case .relaying, .failed:
            return .none
        }
    }

    /// The DC leg is up: hands over the client bytes that followed the header and whether
    /// the client has already finished sending.
    mutating func relayStarted() -> (remainder: ByteBuffer?, inputClosed: Bool) {
        guard case .connecting(let remainder, let inputClosed) = state else { return (nil, false) }
        state = .relaying
        return (remainder, inputClosed)
    }
}
