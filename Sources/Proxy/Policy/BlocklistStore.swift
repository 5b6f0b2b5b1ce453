import EventLog

/// PLACEHOLDER until the configuration engineer's live blocklist lands on main (that
/// change replaces this file): same shape, blocks nothing.
public final class BlocklistStore: Sendable {
    public init() {}

    public func blocks(_ address: IPAddress) -> Bool { false }
}
