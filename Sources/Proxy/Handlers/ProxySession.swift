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
/// idle timer and the single `session.closed`. Lives on the client channel's event loop;
/// every method must be called there.
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
    private var idleTimer: Scheduled<Void>?
    private var finished = false

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

    /// Starts watching for `limits.idle_timeout` without traffic either way. One timer per
    /// session, re-armed only when it fires, so reads just store a timestamp.
    func startIdleTimer() {
        armIdleTimer(deadline: lastActivity + settings.idleTimeout)
    }

    private func armIdleTimer(deadline: NIODeadline) {
        guard !finished else { return }
        idleTimer = clientChannel.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            let due = lastActivity + settings.idleTimeout
            if clientChannel.eventLoop.now >= due {
                end(reason: EventReason.idleTimeout)
            } else {
                armIdleTimer(deadline: due)
            }
        }
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
        idleTimer?.cancel()
        idleTimer = nil
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
