import EventLog

/// Why fake-TLS bytes were refused: a ClientHello that could not be parsed or did not
/// authenticate, or a record the relay cannot accept.
///
/// `field` is a constant text naming what was wrong; nothing in an error ever carries client
/// bytes, a key or the client's SNI, so it may be logged as it is.
public struct FakeTLSError: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Code: String, Sendable, Hashable, CaseIterable {
        /// The ClientHello or a record broke the wire format.
        case malformed
        /// No secret's HMAC matched the ClientHello random.
        case digest
        /// The digest matched but the timestamp is outside the accepted window.
        case clockSkew
        /// The digest and timestamp were fine but the SNI policy refused the server name.
        case serverName
    }

    public var code: Code
    /// The field or rule that failed, e.g. `"session_id length"`.
    public var field: String
    /// Byte offset: into the reassembled single-record image for a ClientHello, into the
    /// client's record stream for the record layer.
    public var offset: Int?

    public init(_ code: Code, _ field: String, offset: Int? = nil) {
        self.code = code
        self.field = field
        self.offset = offset
    }

    static func malformed(_ field: String, at offset: Int? = nil) -> FakeTLSError {
        FakeTLSError(.malformed, field, offset: offset)
    }

    /// The `event.reason` of the `handshake.failed` event this error leads to.
    public var reason: String {
        switch code {
        case .malformed: EventReason.malformed
        case .digest: EventReason.tlsDigest
        case .clockSkew: EventReason.tlsSkew
        case .serverName: EventReason.tlsSNI
        }
    }

    public var description: String {
        if let offset { return "\(reason): \(field) at offset \(offset)" }
        return "\(reason): \(field)"
    }
}
