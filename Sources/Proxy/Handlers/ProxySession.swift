import EventLog
import MTCrypto
import NIOCore

extension EventReason {
    // upstream.failed and the session.closed that follows it
    static let upstreamFailed = "upstream_failed"
    static let connectTimeout = "connect_timeout"
    static let connectFailed = "connect_failed"
}

/// One client connection from accept to close: its identity in events, its counters, its
/// one timer (the handshake deadline, then the idle timeout) and the single
/// `session.closed`. Lives on the client channel's event loop; every method must be
/// called there.
final class ProxySession {
    /// Relayed bytes are handed to `ProxyStats` once this many accumulate (and at close),
    /// so the shared lock is taken about once per 4 MiB, never per read.
    static let statsBatchBytes: UInt64 = 4 << 20

    let id: String
    let settings: ProxySettings
    let events: any EventSink
    let stats: ProxyStats
    let clock: ProxyClock
    let source: IPAddress
    /// `source` as events carry it, formatted once for the session's several events.
    private let sourceText: String
    let sourcePort: Int?
    let listener: String
    let clientChannel: Channel
    var upstreamChannel: Channel?

    private let acceptedAtMilliseconds: Int64
    private(set) var transport: ProxyTransport?
    private(set) var secretName: String?
    private(set) var dc: Int?
    private(set) var closeReason: String?
    private(set) var bytesFromClient: UInt64 = 0
    private(set) var bytesToClient: UInt64 = 0
    private var unreportedFromClient: UInt64 = 0
    private var unreportedToClient: UInt64 = 0
    private var lastActivity: NIODeadline
    /// The session's only timer, armed from the first handshake handler until `finish`:
    /// it serves the handshake deadline, then the idle timeout. Arming and cancelling a
    /// timer is a good part of a connection set-up's cost, so the handshake's end does not
    /// cancel it; it just fires as an idle check and re-arms.
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?
    private var handshakeWatch: HandshakeWatch?
    private var finished = false

    private struct HandshakeWatch {
        let owner: ObjectIdentifier
        let deadline: NIODeadline
        let expired: () -> Void
    }

    init(
        settings: ProxySettings, events: any EventSink, stats: ProxyStats, clock: ProxyClock,
        source: IPAddress, sourcePort: Int?, listener: String, clientChannel: Channel
    ) {
        self.id = SecureRandom.bytes(8).hexString
        self.settings = settings
        self.events = events
        self.stats = stats
        self.clock = clock
        self.source = source
        self.sourceText = source.description
        self.sourcePort = sourcePort
        self.listener = listener
        self.clientChannel = clientChannel
        self.acceptedAtMilliseconds = clock.milliseconds()
        self.lastActivity = clientChannel.eventLoop.now
    }

    func event(_ action: EventAction, outcome: EventOutcome? = nil, reason: String? = nil) -> Event {
        Event(
            timestampMilliseconds: clock.milliseconds(), action: action, outcome: outcome, reason: reason,
            sourceIP: sourceText, sourcePort: sourcePort, sessionID: id,
            instance: settings.instance, listener: listener,
            transport: transport, secretName: secretName, dc: dc
        )
    }

    func accepted() {
        stats.connectionOpened()
        events.emit(event(.connectionAccepted, outcome: .success))
    }

    /// - Parameter secretName: the secret a fake-TLS hello was signed with when its
    ///   timestamp or server name was refused; nil otherwise.
    func handshakeFailed(reason: String, secretName: String? = nil) {
        if let secretName { self.secretName = secretName }
        noteCloseReason(reason)
        stats.handshakeFailed(reason: reason)
        events.emit(event(.handshakeFailed, outcome: .failure, reason: reason))
    }

    /// The refused client is now spliced to the fronting site.
    func probeForwarded(reason: String) {
        stats.probeForwarded()
        events.emit(event(.probeForwarded, outcome: .success, reason: reason))
    }

    func handshakeSucceeded(secretName: String, transport: ProxyTransport, dc: Int) {
        self.secretName = secretName
        self.transport = transport
        self.dc = dc
        stats.sessionStarted(transport: transport, dc: abs(dc))
        events.emit(event(.handshakeSucceeded, outcome: .success))
    }

    func upstreamFailed(reason: String) {
        stats.upstreamFailed(dc: abs(dc ?? 0))
        events.emit(event(.upstreamFailed, outcome: .failure, reason: reason))
    }

    /// The first reason wins: whoever ended the session first explains its end.
    func noteCloseReason(_ reason: String) {
        if closeReason == nil { closeReason = reason }
    }

    @inline(__always)
    func relayedFromClient(_ count: Int, now: NIODeadline) {
        lastActivity = now
        bytesFromClient &+= UInt64(count)
        unreportedFromClient &+= UInt64(count)
        if unreportedFromClient >= Self.statsBatchBytes { reportBytes() }
    }

    @inline(__always)
    func relayedToClient(_ count: Int, now: NIODeadline) {
        lastActivity = now
        bytesToClient &+= UInt64(count)
        unreportedToClient &+= UInt64(count)
        if unreportedToClient >= Self.statsBatchBytes { reportBytes() }
    }

    private func reportBytes() {
        guard let dc, unreportedFromClient > 0 || unreportedToClient > 0 else { return }
        stats.bytesRelayed(dc: abs(dc), fromClient: unreportedFromClient, toClient: unreportedToClient)
        unreportedFromClient = 0
        unreportedToClient = 0
    }

    /// Closes both legs, recording why (`idle_timeout`, `shutdown`, …).
    func end(reason: String) {
        noteCloseReason(reason)
        upstreamChannel?.close(promise: nil)
        clientChannel.close(promise: nil)
    }

    /// `expired` runs once at `deadline` unless `owner` (the handler running the
    /// handshake) calls `stopWatchingHandshake` first. A handler that hands the connection
    /// to the next one lets the next one take the watch over.
    func watchHandshake(deadline: NIODeadline, owner: AnyObject, expired: @escaping () -> Void) {
        guard !finished else { return }
        handshakeWatch = HandshakeWatch(owner: ObjectIdentifier(owner), deadline: deadline, expired: expired)
        armTimer(deadline: deadline)
    }

    /// The handshake ended (either way) or `owner` left the pipeline; a watch another
    /// handler took over stays.
    func stopWatchingHandshake(owner: AnyObject) {
        if handshakeWatch?.owner == ObjectIdentifier(owner) { handshakeWatch = nil }
    }

    /// Watches for `limits.idle_timeout` without traffic either way. The timer re-arms
    /// only when it fires, so reads just store a timestamp.
    func startIdleTimer() {
        armTimer(deadline: lastActivity + settings.idleTimeout)
    }

    /// Arms the timer for `deadline` unless it is already due no later.
    private func armTimer(deadline: NIODeadline) {
        guard !finished else { return }
        if let armed = timerDeadline, armed <= deadline { return }
        timer?.cancel()
        timerDeadline = deadline
        timer = clientChannel.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            timerFired()
        }
    }

    private func timerFired() {
        timer = nil
        timerDeadline = nil
        let now = clientChannel.eventLoop.now
        if let watch = handshakeWatch {
            guard now >= watch.deadline else { return armTimer(deadline: watch.deadline) }
            handshakeWatch = nil
            watch.expired()
        } else {
            let due = lastActivity + settings.idleTimeout
            guard now >= due else { return armTimer(deadline: due) }
            end(reason: EventReason.idleTimeout)
        }
        // After an expired handshake the client may be spliced to the fronting site.
        armTimer(deadline: lastActivity + settings.idleTimeout)
    }

    /// The relay closes the DC leg after delivering what is queued for it; if the DC stops
    /// reading, this bounds the wait.
    private func lingerUpstream() {
        guard let upstream = upstreamChannel, upstream.isActive else { return }
        upstream.eventLoop.assumeIsolated().scheduleTask(in: Self.upstreamLinger) {
            upstream.close(promise: nil)
        }
    }

    static let upstreamLinger: TimeAmount = .seconds(5)

    /// Called once, when the client channel has closed: final counters and `session.closed`.
    func finish(defaultReason: String) {
        guard !finished else { return }
        finished = true
        timer?.cancel()
        timer = nil
        timerDeadline = nil
        handshakeWatch = nil
        lingerUpstream()
        reportBytes()
        if let transport, let dc {
            stats.sessionEnded(transport: transport, dc: abs(dc))
        }
        stats.connectionClosed()
        var closed = event(.sessionClosed, reason: closeReason ?? defaultReason)
        closed.bytesIn = bytesFromClient
        closed.bytesOut = bytesToClient
        closed.durationMilliseconds = UInt64(max(0, clock.milliseconds() - acceptedAtMilliseconds))
        events.emit(closed)
    }
}
