/// One configured secret. Server side only the 16-byte key matters (PROTOCOL.md §1);
/// the form tells clients which transport to speak and, for `ee`, which domain to front.
public struct ProxySecret: Sendable, Hashable {
    public enum Form: String, Sendable, Hashable, CaseIterable {
        /// 16 bytes: obfuscated2, the client chooses abridged or intermediate.
        case classic
        /// `dd` + 16 bytes: padded intermediate.
        case secure
        /// `ee` + 16 bytes + domain: fake TLS.
        case faketls
    }

    /// The name used in events (`mt.secret`) and stats; never the bytes.
    public var name: String
    public var form: Form
    /// The 16-byte key used for every derivation.
    public var key: [UInt8]
    /// The fronting domain carried by an `ee` secret.
    public var domain: String?
    /// When a rotated-out secret stops being accepted (`retires_at`, ms since the epoch);
    /// nil for a secret in service.
    public var retiresAtMilliseconds: Int64? = nil
    /// When the key was made (`created`, ms since the epoch), written by `mtproxy secret
    /// rotate` and `make run`; nil when the file does not say. Only for the age check.
    public var createdMilliseconds: Int64? = nil

    public init(name: String, form: Form, key: [UInt8], domain: String? = nil) {
        precondition(key.count == 16, "an MTProto proxy key is 16 bytes")
        self.name = name
        self.form = form
        self.key = key
        self.domain = domain
    }
}

extension ProxySecret: CustomStringConvertible, CustomDebugStringConvertible {
    /// Never the key: a secret printed by accident must not leak.
    public var description: String { "ProxySecret(\(name), \(form.rawValue))" }
    public var debugDescription: String { description }
}
