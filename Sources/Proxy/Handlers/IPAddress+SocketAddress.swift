import EventLog
import NIOCore

extension IPAddress {
    /// The address of an IPv4 or IPv6 socket address, straight from its `sockaddr` bytes
    /// (no text round trip on accept); nil for a Unix domain socket.
    init?(_ address: SocketAddress) {
        switch address {
        case .v4(let v4):
            self = .v4(UInt32(bigEndian: v4.address.sin_addr.s_addr))
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            self.init(bytes: bytes)
        case .unixDomainSocket:
            return nil
        }
    }
}
