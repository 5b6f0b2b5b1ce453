/// A `source.ip_hash` value as an `Event` holds it.
///
/// The proxy writes 32 lowercase hex digits (`IPHasher`); those are packed into two
/// words, so that decoding, holding and grouping by the pseudonym most events carry makes
/// no heap string. Any other text (another producer's spelling, a test's junk) is kept
/// as it is, so every value survives a round trip; the packed form is the only one for
/// hash-shaped text, so equal texts are equal values.
public struct IPHashValue: Sendable, Hashable, CustomStringConvertible {
    private enum Storage: Sendable, Hashable {
        /// The first and last sixteen digits, first digit in the top nibble.
        case packed(UInt64, UInt64)
        case text(String)
    }

    private let storage: Storage

    /// Hex digits of a packed value (`IPHasher.hashLength`, spelled out so that this file
    /// stands alone beside `Event.swift` where the fuzz package links only the schema).
    public static let digitCount = 32

    public init(_ text: String) {
        if let packed = text.utf8.withContiguousStorageIfAvailable(Self.packed(_:)) ?? Self.packed(Array(text.utf8)) {
            storage = packed
        } else {
            storage = .text(text)
        }
    }

    /// The value whose hex digits spell these 16 bytes (an HMAC's first half, as
    /// `IPHasher` takes it): packed as they are, with no text in between.
    public init(digest: some Collection<UInt8>) {
        precondition(digest.count == Self.digitCount / 2, "an ip_hash is 16 bytes")
        let high = digest.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let low = digest.dropFirst(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        storage = .packed(high, low)
    }

    /// The packed value of 32 lowercase hex digits; nil for any other bytes.
    public init?(hexDigits bytes: UnsafeBufferPointer<UInt8>) {
        guard let packed = Self.packed(bytes) else { return nil }
        storage = packed
    }

    /// The two words of a packed value: the first and last sixteen hex digits.
    public var packedWords: (UInt64, UInt64)? {
        if case .packed(let high, let low) = storage { return (high, low) }
        return nil
    }

    public var description: String {
        switch storage {
        case .text(let text): return text
        case .packed: return withUTF8 { String(decoding: $0, as: UTF8.self) }
        }
    }

    /// Calls `body` with the value's UTF-8 bytes; a packed value is spelled on the stack.
    @inline(__always)
    public func withUTF8<Result>(_ body: (UnsafeBufferPointer<UInt8>) -> Result) -> Result {
        switch storage {
        case .text(let text):
            if let result = text.utf8.withContiguousStorageIfAvailable(body) { return result }
            var text = text
            return text.withUTF8(body)
        case .packed(let high, let low):
            var digits = (Self.spell(high), Self.spell(low))
            return withUnsafeBytes(of: &digits) { body($0.assumingMemoryBound(to: UInt8.self)) }
        }
    }

    /// The UTF-8 byte count.
    public var count: Int {
        switch storage {
        case .text(let text): text.utf8.count
        case .packed: Self.digitCount
        }
    }

    private static let lanes: UInt64 = 0x0101_0101_0101_0101

    private static func packed(_ bytes: UnsafeBufferPointer<UInt8>) -> Storage? {
        guard bytes.count == Self.digitCount, let base = bytes.baseAddress else { return nil }
        let raw = UnsafeRawPointer(base)
        func word(_ offset: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
        guard let high = packHexDigits(word(0), word(8)), let low = packHexDigits(word(16), word(24)) else { return nil }
        return .packed(high, low)
    }

    private static func packed(_ bytes: [UInt8]) -> Storage? {
        bytes.withUnsafeBufferPointer(packed(_:))
    }

    /// Bytes of `word` strictly between `low` and `high`, as their top bit (all bytes < 0x80).
    @inline(__always)
    private static func between(_ word: UInt64, _ low: UInt64, _ high: UInt64) -> UInt64 {
        let seven = word & (lanes &* 0x7F)
        return ((lanes &* (127 &+ high)) &- seven) & ~word & (seven &+ lanes &* (127 &- low)) & (lanes &* 0x80)
    }

    /// Sixteen lowercase hex digits (`first` then `second`, eight bytes each, loaded
    /// little-endian) as one number, first digit highest; nil when one is not a lowercase
    /// hex digit. Eight digits at a time, in the word's lanes.
    @inline(__always)
    public static func packHexDigits(_ first: UInt64, _ second: UInt64) -> UInt64? {
        func digits(_ word: UInt64) -> UInt64? {
            guard word & (lanes &* 0x80) == 0,
                  between(word, 0x2F, 0x3A) | between(word, 0x60, 0x67) == lanes &* 0x80 else { return nil }
            // '0'…'9' keep their low nibble; 'a'…'f' (bit 6 set) add nine to theirs.
            let nibbles = (word & (lanes &* 0x0F)) &+ ((word >> 6) & lanes) &* 9
            let pairs = ((nibbles << 4) | (nibbles >> 8)) & 0x00FF_00FF_00FF_00FF
            let quads = ((pairs << 8) | (pairs >> 16)) & 0x0000_FFFF_0000_FFFF
            return ((quads << 16) | (quads >> 32)) & 0xFFFF_FFFF
        }
        guard let high = digits(first), let low = digits(second) else { return nil }
        return high << 32 | low
    }

    /// Sixteen digits, first in the lowest byte (as they lie in memory on a little-endian
    /// machine): each nibble spread to a byte lane, then '0' or 'a' - 10 added by lane.
    @inline(__always)
    private static func spell(_ value: UInt64) -> (UInt64, UInt64) {
        func lanes8(_ half: UInt64) -> UInt64 {
            // Eight nibbles of `half` (high nibble first) into eight bytes, first in the low byte.
            var spread = (half & 0xFFFF_0000) >> 16 | (half & 0x0000_FFFF) << 32
            spread = (spread & 0x0000_FF00_0000_FF00) >> 8 | (spread & 0x0000_00FF_0000_00FF) << 16
            spread = (spread & 0x00F0_00F0_00F0_00F0) >> 4 | (spread & 0x000F_000F_000F_000F) << 8
            let letters = ((spread &+ lanes &* 6) >> 4) & lanes
            return spread &+ lanes &* 0x30 &+ letters &* 0x27
        }
        return (UInt64(littleEndian: lanes8(value >> 32)), UInt64(littleEndian: lanes8(value & 0xFFFF_FFFF)))
    }
}
