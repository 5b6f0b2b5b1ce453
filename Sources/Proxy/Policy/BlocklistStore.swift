#if canImport(Glibc)
import Glibc
#endif
import EventLog
import Synchronization

/// The live blocklist the proxy consults at accept time. Readers take the current
/// immutable `Blocklist` and look up without holding any lock; a reload builds a new
/// version off to the side and swaps it in one step.
public final class BlocklistStore: Sendable {
    private let current: Mutex<Blocklist>
    private let hasher: IPHasher
    private let now: @Sendable () -> Int64

    /// - Parameters:
    ///   - hasher: the same hasher the event writer uses, so that an `ip_hash` the auditor
    ///     read in an event matches the hash computed here on the same day.
    ///   - now: milliseconds since the Unix epoch; injected for tests.
    public init(hasher: IPHasher = IPHasher(), now: @escaping @Sendable () -> Int64 = BlocklistStore.wallClock,
                blocklist: Blocklist = .empty) {
        self.hasher = hasher
        self.now = now
        self.current = Mutex(blocklist)
    }

    /// True when a client at `address` must be refused (`connection.rejected`, reason
    /// `blocklisted`). Called for every accepted connection.
    public func blocks(_ address: IPAddress) -> Bool {
        // Hot path: one retain under the lock, lookups outside it, and the HMAC only
        // when the list holds any ip_hash entry.
        let blocklist = current.withLock { $0 }
        if blocklist.containsAddress(address) { return true }
        guard !blocklist.hashes.isEmpty else { return false }
        return blocklist.containsHash(hasher.pseudonym(of: address, nowMilliseconds: now()))
    }

    /// Milliseconds since the Unix epoch from the system's real-time clock.
    @Sendable public static func wallClock() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1_000 + Int64(now.tv_nsec) / 1_000_000
    }

    /// The version in force.
    public var blocklist: Blocklist { current.withLock { $0 } }

    /// Puts `blocklist` in force for every later lookup.
    public func replace(with blocklist: Blocklist) {
        current.withLock { $0 = blocklist }
    }
}
