import MTCrypto
import Synchronization

/// Keyed pseudonyms for client addresses: `source.ip_hash` in events and `ip_hash`
/// entries in the blocklist. HMAC-SHA256 under a random key that lives only in memory
/// and changes at each UTC midnight, so hashes never link one day to the next and
/// cannot be reversed by hashing the whole IPv4 space without the key.
public final class IPHasher: Sendable {
    /// Hex characters of an `ip_hash` (the first 16 bytes of the HMAC).
    public static let hashLength = IPHashValue.digitCount
    private static let millisecondsPerDay: Int64 = 86_400_000

    /// Distinct addresses whose pseudonym is remembered for the day: each connection
    /// writes several events, so the HMAC runs about once per address instead of per event.
    public static let cacheCapacity = 4096

    private struct DayKey {
        var day: Int64
        var key: [UInt8]
        /// Pseudonyms under `key`; dropped with it at midnight, emptied when full.
        var known: [IPAddress: IPHashValue] = [:]
    }

    private let current: Mutex<DayKey?>
    private let makeKey: @Sendable () -> [UInt8]

    /// - Parameter makeKey: the key source, a fresh CSPRNG key per day unless a test
    ///   injects a fixed one.
    public init(makeKey: @escaping @Sendable () -> [UInt8] = { SecureRandom.bytes(32) }) {
        self.makeKey = makeKey
        self.current = Mutex(nil)
    }

    /// The pseudonym of `address` on the UTC day containing `nowMilliseconds`, as text.
    public func hash(_ address: IPAddress, nowMilliseconds: Int64) -> String {
        pseudonym(of: address, nowMilliseconds: nowMilliseconds).description
    }

    /// The pseudonym of `address` on the UTC day containing `nowMilliseconds`, packed as
    /// events and the blocklist hold it: no hex text is made to be read back.
    public func pseudonym(of address: IPAddress, nowMilliseconds: Int64) -> IPHashValue {
        let day = nowMilliseconds >= 0 ? nowMilliseconds / Self.millisecondsPerDay : -1
        let lookup = current.withLock { state -> (key: [UInt8], known: IPHashValue?) in
            if let state, state.day == day { return (state.key, state.known[address]) }
            let fresh = DayKey(day: day, key: makeKey())
            state = fresh
            return (fresh.key, nil)
        }
        if let known = lookup.known { return known }
        let pseudonym = IPHashValue(digest: HMACSHA256.authenticationCode(key: lookup.key, data: address.bytes).prefix(Self.hashLength / 2))
        current.withLock { state in
            guard state?.day == day else { return }
            if state!.known.count >= Self.cacheCapacity { state!.known.removeAll(keepingCapacity: true) }
            state!.known[address] = pseudonym
        }
        return pseudonym
    }

    /// True for text shaped like an `ip_hash` (lower-case hex of the right length).
    public static func isHashText(_ text: some StringProtocol) -> Bool {
        IPHashValue(String(text)).packedWords != nil
    }
}
