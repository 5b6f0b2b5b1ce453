import EventLog
import NIOCore
import NIOPosix

/// Opens the DC leg of a session. Tests substitute an in-memory leg.
protocol UpstreamConnecting {
    /// Reports every failed address through `attemptFailed` (with an `event.reason`), and
    /// fails only when none is left. The channel must be on `eventLoop`, with auto-read off
    /// and no handlers; the caller glues it and turns reading on.
    func connect(
        to targets: [UpstreamTarget],
        on eventLoop: EventLoop,
        attemptFailed: @escaping (String) -> Void
    ) -> EventLoopFuture<Channel>
}

/// Opens the DC leg on the client's event loop (so the glued handlers never hop threads),
/// trying each address of the DC in order with the configured connect timeout.
struct UpstreamConnector: UpstreamConnecting {
    let connectTimeout: TimeAmount

    func connect(
        to targets: [UpstreamTarget],
        on eventLoop: EventLoop,
        attemptFailed: @escaping (String) -> Void
    ) -> EventLoopFuture<Channel> {
        let promise = eventLoop.makePromise(of: Channel.self)
        attempt(targets[...], on: eventLoop, promise: promise, attemptFailed: attemptFailed)
        return promise.futureResult
    }

    private func attempt(
        _ targets: ArraySlice<UpstreamTarget>,
        on eventLoop: EventLoop,
        promise: EventLoopPromise<Channel>,
        attemptFailed: @escaping (String) -> Void
    ) {
        guard let target = targets.first else {
            promise.fail(UpstreamUnavailable())
            return
        }
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelInitializer { channel in
                RelayReadSizing.configure(channel, autoRead: false)
            }
        let connecting: EventLoopFuture<Channel>
        switch target {
        case .address(let address): connecting = bootstrap.connect(to: address)
        case .name(let endpoint): connecting = bootstrap.connect(host: endpoint.host, port: endpoint.port)
        }
        connecting.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel):
                promise.succeed(channel)
            case .failure(let error):
                if case ChannelError.connectTimeout = error {
                    attemptFailed(EventReason.connectTimeout)
                } else {
                    attemptFailed(EventReason.connectFailed)
                }
                attempt(targets.dropFirst(), on: eventLoop, promise: promise, attemptFailed: attemptFailed)
            }
        }
    }
}

struct UpstreamUnavailable: Error {}

/// Read sizing for both legs. Large reads keep syscalls and AES calls per byte low; one
/// read per readiness event bounds what can be in flight beyond the write high-water mark
/// to one buffer, and NIO's receive pool then keeps at most one buffer per idle channel.
enum RelayReadSizing {
    static let allocator = AdaptiveRecvByteBufferAllocator(minimum: 1024, initial: 2048, maximum: 64 * 1024)
    static let messagesPerRead: UInt = 1

    /// Read sizing and half-closure for either leg, set straight on the channel from its
    /// initializer, then `then` (on the channel's loop): a bootstrap applies each of its
    /// options through a chain of futures, which cost more per connection than accepting it.
    static func configure(_ channel: Channel, autoRead: Bool, then: @escaping @Sendable () -> Void = {}) -> EventLoopFuture<Void> {
        guard let options = channel.syncOptions else {
            return channel.setOption(.autoRead, value: autoRead)
                .flatMap { channel.setOption(.allowRemoteHalfClosure, value: true) }
                .flatMap { channel.setOption(.recvAllocator, value: allocator) }
                .flatMap { channel.setOption(.maxMessagesPerRead, value: messagesPerRead) }
                .map(then)
        }
        do {
            if !autoRead { try options.setOption(.autoRead, value: false) }
            try options.setOption(.allowRemoteHalfClosure, value: true)
            try options.setOption(.recvAllocator, value: allocator)
            try options.setOption(.maxMessagesPerRead, value: messagesPerRead)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        then()
        return channel.eventLoop.makeSucceededVoidFuture()
    }
}
