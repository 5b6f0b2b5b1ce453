import EventLog
import MTCrypto
import Synchronization

/// One keyed pseudonym per client address for a whole snapshot: `ip4-` or `ip6-` and 16
/// hex digits of HMAC-SHA256 under a key drawn for this snapshot and never written
/// anywhere, so correlations between artifacts survive and the address does not.
/// Unspecified and loopback addresses say nothing about a client and are kept.
public final class AddressPseudonyms: Sendable {
    private let key: [UInt8]
    private let assigned = Mutex<[IPAddress: String]>([:])

    public init(key: [UInt8] = SecureRandom.bytes(32)) {
        self.key = key
    }

    /// The pseudonym of `address`, or nil when the address is kept as it is.
    public func pseudonym(for address: IPAddress) -> String? {
        switch address {
        case .v4(let value) where value == 0 || value >> 24 == 127: return nil
        case .v6(0, let low) where low <= 1: return nil
        default: break
        }
        return assigned.withLock { table in
            if let known = table[address] { return known }
            let code = HMACSHA256.authenticationCode(key: key, data: address.bytes).prefix(8).hexString
            let name = (address.isIPv4 ? "ip4-" : "ip6-") + code
            table[address] = name
            return name
        }
    }

    /// How many distinct addresses were replaced.
    public var count: Int { assigned.withLock { $0.count } }
}
