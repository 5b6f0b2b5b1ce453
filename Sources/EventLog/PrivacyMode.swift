/// `privacy.ip` / `events.privacy`: how much of a client's address events may carry.
public enum PrivacyMode: String, Sendable, Hashable, CaseIterable {
    /// Raw `source.ip` on every event.
    case full
    /// Raw `source.ip` only on abuse evidence; routine events carry `source.ip_hash`
    /// and `source.prefix`; byte counts rounded up to KiB, durations to seconds.
    case minimized
    /// No address at all, not even a hash or prefix.
    case none
}
