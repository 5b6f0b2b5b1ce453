import DequeModule
import MTCrypto
import NIOCore
import Synchronization

/// Remembers the handshake material of recently authenticated connections so a recorded
/// handshake cannot be played back (PROTOCOL.md §2.7, §4.3.8, §5).
///
/// Contract, in the manner of wireguard-go's `replay` package:
/// - Keys are the fake-TLS client random (32 bytes) or the obfuscated2 init bytes
///   `[8,56)` (48 bytes). Each is reduced to a 128-bit SHA-256 fingerprint, so memory per
///   entry is fixed whatever the key.
/// - Insert only after the handshake authenticated (`checkAndInsert` is called after the
///   digest, timestamp and SNI checks pass). Unauthenticated bytes never reach the filter,
///   so a prober cannot fill it or plant entries that lock real clients out.
/// - A key is reported as a replay for `timeToLive` after its insertion, as long as fewer
///   than `capacity` keys were inserted after it. When full, the oldest entry goes first
///   (FIFO), which shortens protection for old entries but never refuses a fresh key.
///   Size `capacity` for the peak handshake rate × `timeToLive`.
/// - `timeToLive` must be at least the width of the fake-TLS timestamp window
///   (`FakeTLSSettings.timestampWindow`): after that the timestamp check refuses the
///   hello anyway.
/// - Memory: at most `maximumBytesPerEntry` × `capacity`, reserved up front so the tables
///   never rehash under the lock; pages are touched only as entries arrive.
/// - Thread-safe: one instance is shared by every event loop. The lock is held only for
///   a dictionary lookup, an insert and amortised O(1) eviction; hashing happens outside.
/// - Time comes from the caller (`now`, monotonic), so tests drive it.
public final class ReplayFilter: Sendable {
    public struct Configuration: Sendable, Hashable {
        /// Whether the proxy consults a filter at all (`replay.enabled`).
        public var enabled: Bool = true
        /// Entries kept at most.
        public var capacity: Int = 262_144
        /// How long an entry is remembered: the 30-minute default covers the default
        /// fake-TLS window (10 minutes behind, 20 ahead).
        public var timeToLive: TimeAmount = .minutes(30)

        public init(enabled: Bool = true, capacity: Int = 262_144, timeToLive: TimeAmount = .minutes(30)) {
            self.enabled = enabled
            self.capacity = capacity
            self.timeToLive = timeToLive
        }
    }

    /// A 24-byte dictionary slot in a power-of-two table kept at most 75 % full (so 32 to
    /// 64 bytes an entry) plus a 24-byte FIFO slot.
    public static let maximumBytesPerEntry = 88

    struct Fingerprint: Hashable, Sendable {
        var high: UInt64
        var low: UInt64
    }

    private struct State: ~Copyable {
        var expiries: [Fingerprint: NIODeadline] = [:]
        var order: Deque<(Fingerprint, NIODeadline)> = []

        mutating func evictFirst(_ fingerprint: Fingerprint, _ deadline: NIODeadline) {
            order.removeFirst()
            // A later insert of the same key owns the dictionary slot; leave it.
            if expiries[fingerprint] == deadline { expiries[fingerprint] = nil }
        }
    }

    public let configuration: Configuration
    private let state: Mutex<State>

    public init(configuration: Configuration = Configuration()) {
        precondition(configuration.capacity > 0, "a replay filter needs room for one entry")
        precondition(configuration.timeToLive > .zero, "a replay filter's time to live must be positive")
        self.configuration = configuration
        var state = State()
        state.expiries.reserveCapacity(configuration.capacity)
        state.order.reserveCapacity(configuration.capacity)
        self.state = Mutex(state)
    }

    /// Entries currently held (expired ones included until they are evicted).
    public var count: Int { state.withLock { $0.expiries.count } }

    /// True when `key` was inserted within the time to live and is still held.
    public func contains(_ key: some Collection<UInt8>, now: NIODeadline = .now()) -> Bool {
        let fingerprint = Self.fingerprint(key)
        return state.withLock { state in
            guard let expiry = state.expiries[fingerprint] else { return false }
            return expiry > now
        }
    }

    /// Records `key` if it is fresh. Returns true for a fresh key, false for a replay
    /// (which is left as it was: a replay does not extend the original's lifetime).
    @discardableResult
    public func checkAndInsert(_ key: some Collection<UInt8>, now: NIODeadline = .now()) -> Bool {
        let fingerprint = Self.fingerprint(key)
        let expiry = now + configuration.timeToLive
        let capacity = configuration.capacity
        return state.withLock { state in
            while let (oldest, deadline) = state.order.first, deadline <= now {
                state.evictFirst(oldest, deadline)
            }
            if let current = state.expiries[fingerprint], current > now { return false }
            while state.order.count >= capacity, let (oldest, deadline) = state.order.first {
                state.evictFirst(oldest, deadline)
            }
            state.expiries[fingerprint] = expiry
            state.order.append((fingerprint, expiry))
            return true
        }
    }

    static func fingerprint(_ key: some Collection<UInt8>) -> Fingerprint {
        let digest = SHA256.hash(key)
        return digest.withUnsafeBytes {
            Fingerprint(high: $0.loadUnaligned(fromByteOffset: 0, as: UInt64.self),
                        low: $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        }
    }
}
