import MTCrypto
import NIOCore

/// One end of one TCP leg: the keystream it writes with and the one it reads with.
/// Both nil in the plain mode the nginx run uses, so the peers do no crypto there.
public struct CipherLeg {
    let outbound: AESCTR?
    let inbound: AESCTR?

    public static var plain: CipherLeg { CipherLeg(outbound: nil, inbound: nil) }

    public func seal(_ buffer: inout ByteBuffer) {
        guard let outbound else { return }
        buffer.withUnsafeMutableReadableBytes { outbound.apply($0) }
    }

    public func open(_ buffer: inout ByteBuffer) {
        guard let inbound else { return }
        buffer.withUnsafeMutableReadableBytes { inbound.apply($0) }
    }
}

/// How the two peers talk across the relay under test.
public enum PeerEncryption: String, Sendable, CaseIterable {
    /// obfuscated2: the client with the proxy's secret, the DC keyless (PROTOCOL.md §2, §3.1).
    case obfuscated2
    /// The same bytes in clear, for a relay that does no crypto (nginx).
    case plain
}
