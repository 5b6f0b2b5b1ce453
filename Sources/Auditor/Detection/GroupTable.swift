import EventLog

/// A group's value (or a `distinct` field's value) held in 32 bytes, compared and hashed
/// as four words instead of as a `String`.
///
/// Lossless, so two keys are equal exactly when their texts are: up to 31 bytes of text
/// are held inline with their length; 32 lowercase hex digits (an `ip_hash`) are packed
/// into 16 bytes; longer texts are numbered by the `GroupKeys` that encoded them.
struct GroupKey: Equatable {
    @inline(__always)
    static func == (lhs: GroupKey, rhs: GroupKey) -> Bool {
        // Without branches: the four words differ or not.
        ((lhs.w0 ^ rhs.w0) | (lhs.w1 ^ rhs.w1) | (lhs.w2 ^ rhs.w2) | (lhs.w3 ^ rhs.w3)) == 0
    }

    var w0: UInt64 = 0
    var w1: UInt64 = 0
    var w2: UInt64 = 0
    /// The top byte says how the key is held: 0 for an empty slot, text length + 1 for
    /// inline text, `Self.packedHex` or `Self.numbered`.
    var w3: UInt64 = 0

    static let inlineCapacity = 31
    static let packedHex: UInt64 = 0x80
    static let numbered: UInt64 = 0xFF

    var isEmpty: Bool { w3 == 0 }

    var isNumbered: Bool { w3 >> 56 == Self.numbered }
}

extension GroupKey {
    /// The key of an `ip_hash` whose 32 digits pack to `high` and `low`.
    init(packedHex high: UInt64, _ low: UInt64) {
        self.init(w0: high, w1: low, w3: Self.packedHex << 56)
    }
}

/// Turns texts into `GroupKey`s for one detector, numbering the rare long texts.
struct GroupKeys {
    private var numbers: [String: UInt64] = [:]
    private var nextNumber: UInt64 = 0

    mutating func key(for text: String) -> GroupKey {
        var text = text
        return text.withUTF8 { key(for: $0) }
    }

    /// The key of the text these UTF-8 bytes spell: the engine hands a field's bytes as
    /// the event holds them, so that no `String` is made for the common, short values.
    @inline(__always)
    mutating func key(for bytes: UnsafeBufferPointer<UInt8>) -> GroupKey {
        if let key = Self.compactKey(bytes) { return key }
        return numbered(String(decoding: bytes, as: UTF8.self))
    }

    private mutating func numbered(_ text: String) -> GroupKey {
        if let number = numbers[text] { return GroupKey(w0: number, w3: GroupKey.numbered << 56) }
        let number = nextNumber
        nextNumber += 1
        numbers[text] = number
        return GroupKey(w0: number, w3: GroupKey.numbered << 56)
    }

    /// True when some long text has a number (most rule sets never see one).
    var hasNumbers: Bool { !numbers.isEmpty }

    /// Drops the numbers of long texts no longer held anywhere.
    mutating func forget(keeping held: Set<UInt64>) {
        numbers = numbers.filter { held.contains($0.value) }
    }

    @inline(__always)
    private static func compactKey(_ bytes: UnsafeBufferPointer<UInt8>) -> GroupKey? {
        let count = bytes.count
        guard count > 0, let base = bytes.baseAddress else { return GroupKey(w3: 1 << 56) }
        let raw = UnsafeRawPointer(base)
        // Whole words, and the tail as the last eight bytes shifted down: no byte loop
        // and no memcpy call for the addresses and prefixes that make most keys.
        func word(_ offset: Int) -> UInt64 { UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) }
        func tail(_ wordEnd: Int) -> UInt64 { word(count - 8) >> UInt64((wordEnd - count) * 8) }
        var key = GroupKey()
        switch count {
        case ..<8:
            for index in 0..<count { key.w0 |= UInt64(base[index]) << UInt64(index * 8) }
        case 8:
            key.w0 = word(0)
        case ...16:
            (key.w0, key.w1) = (word(0), tail(16))
        case ...24:
            (key.w0, key.w1, key.w2) = (word(0), word(8), tail(24))
        case ...GroupKey.inlineCapacity:
            (key.w0, key.w1, key.w2, key.w3) = (word(0), word(8), word(16), tail(32))
        case 32:
            guard let high = IPHashValue.packHexDigits(word(0), word(8)),
                  let low = IPHashValue.packHexDigits(word(16), word(24)) else { return nil }
            return GroupKey(packedHex: high, low)
        default:
            return nil
        }
        key.w3 |= UInt64(count + 1) << 56
        return key
    }
}

/// Per-group state of one detector: groups held densely (`entries`, each a key beside its
/// state, so that finding a group touches one place in memory after the index) behind an
/// open-addressing index (linear probing, at most half full) of slot numbers tagged with
/// hash bits, hashed by a seeded multiply-mix of the key's words. It replaces
/// `[String: State]`, whose SipHash over the text and string retains dominated the
/// engine's time, and holds a group in its key, its state and about 16 bytes of index.
struct GroupTable<State> {
    private struct Entry {
        var key: GroupKey
        var state: State
    }

    private var entries: [Entry] = []
    /// 0 for an empty slot, else the hash's high half << 32 | (position in `entries` + 1).
    private var index: [UInt64]
    private var mask: Int
    /// Random per table, so that addresses chosen by a client cannot be aimed at one chain.
    private let seed: UInt64

    init() {
        index = Array(repeating: 0, count: 16)
        mask = 15
        seed = UInt64.random(in: .min ... .max)
    }

    var count: Int { entries.count }

    @inline(__always)
    private static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let product = a.multipliedFullWidth(by: b)
        return product.high ^ product.low
    }

    @inline(__always)
    private func hash(_ key: GroupKey) -> UInt64 {
        let left = Self.mix(key.w0 ^ seed, key.w1 ^ 0x9E37_79B9_7F4A_7C15)
        let right = Self.mix(key.w2 ^ 0xC2B2_AE3D_27D4_EB4F, key.w3 ^ seed)
        return Self.mix(left ^ 0x1656_67B1_9E37_79F9, right ^ 0x27D4_EB2F_1656_67C5)
    }

    /// The position of `key` in the table, or nil when the table does not hold it.
    func position(of key: GroupKey) -> Int? {
        let hash = hash(key)
        let tag = hash >> 32
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let entry = index[slot]
            if entry == 0 { return nil }
            if entry >> 32 == tag {
                let position = Int(truncatingIfNeeded: entry & 0xFFFF_FFFF) - 1
                if entries[position].key == key { return position }
            }
            slot = (slot + 1) & mask
        }
    }

    /// The position of `key`, holding `fresh` as its state if the table did not hold it.
    @inline(__always)
    mutating func insert(_ key: GroupKey, fresh: @autoclosure () -> State) -> Int {
        let hash = hash(key)
        let tag = hash >> 32
        var slot = Int(truncatingIfNeeded: hash) & mask
        while true {
            let entry = index[slot]
            if entry == 0 { break }
            if entry >> 32 == tag {
                let position = Int(truncatingIfNeeded: entry & 0xFFFF_FFFF) - 1
                if entries[position].key == key { return position }
            }
            slot = (slot + 1) & mask
        }
        let position = entries.count
        entries.append(Entry(key: key, state: fresh()))
        if entries.count * 2 > index.count {
            reindex()
        } else {
            index[slot] = tag << 32 | UInt64(position + 1)
        }
        return position
    }

    subscript(position: Int) -> State {
        get { entries[position].state }
        _modify { yield &entries[position].state }
    }

    func forEachGroup(_ body: (GroupKey, State) -> Void) {
        for entry in entries { body(entry.key, entry.state) }
    }

    /// The numbers of the long texts among the keys.
    var numberedKeys: Set<UInt64> {
        var held: Set<UInt64> = []
        for entry in entries where entry.key.isNumbered { held.insert(entry.key.w0) }
        return held
    }

    /// Drops the groups for which `isDropped` holds, handing each dropped state to `dropped`.
    mutating func removeAll(where isDropped: (GroupKey, State) -> Bool, dropped: (State) -> Void = { _ in }) {
        var kept = 0
        for position in entries.indices {
            if isDropped(entries[position].key, entries[position].state) {
                dropped(entries[position].state)
            } else {
                if kept != position { entries[kept] = entries[position] }
                kept += 1
            }
        }
        guard kept < entries.count else { return }
        entries.removeLast(entries.count - kept)
        if entries.count * 8 < entries.capacity {
            var copy: [Entry] = []
            copy.reserveCapacity(entries.count)
            copy.append(contentsOf: entries)
            entries = copy
        }
        reindex()
    }

    private mutating func reindex() {
        var size = 16
        while size < entries.count * 2 { size <<= 1 }
        index = Array(repeating: 0, count: size)
        mask = size - 1
        for position in entries.indices {
            let hash = hash(entries[position].key)
            var slot = Int(truncatingIfNeeded: hash) & mask
            while index[slot] != 0 { slot = (slot + 1) & mask }
            index[slot] = (hash >> 32) << 32 | UInt64(position + 1)
        }
    }
}
