import EventLog

/// Rewrites a byte stream so that no known secret and, when asked, no client address
/// survives, without holding the stream in memory.
///
/// The stream is cut into segments at separator bytes (anything that cannot be part of
/// a secret's hex or base64 form or of an address), always keeping the longest secret's
/// length in hand, so a secret or an address never straddles a cut. Secrets are replaced
/// first, anywhere; addresses are replaced only as whole tokens.
final class StreamRedactor {
    enum Mode {
        /// Replace what is found.
        case rewrite
        /// Binary content cannot be rewritten without corrupting it: finding anything is an error.
        case refuseIfFound
    }

    struct Found: Error {
        var what: String
    }

    /// Separator-free runs longer than this are cut anyway (no address is that long).
    static let maximumRun = 1 << 20

    private let secrets: SecretInventory
    private let addresses: AddressPseudonyms?
    private let mode: Mode
    private let holdBack: Int
    private var pending: [UInt8] = []
    private var previous: UInt8 = UInt8(ascii: "\n")
    /// Whether a pattern starts with these two bytes (`first << 8 | second`), so the scan
    /// only tries a full match where one can begin.
    private var firstPairTable = [Bool](repeating: false, count: 1 << 16)
    private(set) var secretsReplaced = 0

    init(secrets: SecretInventory, addresses: AddressPseudonyms?, mode: Mode = .rewrite) {
        self.secrets = secrets
        self.addresses = addresses
        self.mode = mode
        self.holdBack = max(secrets.longestPattern, 64)
        for pattern in secrets.patterns {
            func variants(_ byte: UInt8) -> [UInt8] {
                pattern.caseInsensitive && (97...122).contains(byte) ? [byte, byte & ~0x20] : [byte]
            }
            for first in variants(pattern.bytes[0]) {
                for second in variants(pattern.bytes[1]) { firstPairTable[Int(first) << 8 | Int(second)] = true }
            }
        }
    }

    var isIdentity: Bool { secrets.isEmpty && addresses == nil }

    /// Feeds `chunk`; returns what can be written now. `final` flushes everything.
    func process(_ chunk: UnsafeRawBufferPointer, final: Bool) throws -> [UInt8] {
        pending.append(contentsOf: chunk)
        if isIdentity {
            defer { pending.removeAll(keepingCapacity: true) }
            return pending
        }
        guard let cut = cutPoint(final: final) else { return [] }
        let (segment, end) = try replaceSecrets(upTo: cut)
        let after: UInt8 = end < pending.count ? pending[end] : UInt8(ascii: "\n")
        let output = try replaceAddresses(segment, after: after)
        if let last = segment.last { previous = last }
        pending.removeSubrange(0..<end)
        return output
    }

    private func isSeparator(_ byte: UInt8) -> Bool {
        switch byte {
        case 48...57, 65...90, 97...122: false
        case UInt8(ascii: "+"), UInt8(ascii: "/"), UInt8(ascii: "="), UInt8(ascii: "_"), UInt8(ascii: "-"),
             UInt8(ascii: "."), UInt8(ascii: ":"), UInt8(ascii: "%"): false
        default: true
        }
    }

    /// Where the next segment may end, or nil to wait for more input.
    private func cutPoint(final: Bool) -> Int? {
        if final { return pending.isEmpty ? nil : pending.count }
        let limit = pending.count - holdBack
        guard limit > 0 else { return nil }
        var index = limit
        while index > 0 {
            index -= 1
            if isSeparator(pending[index]) { return index + 1 }
            if limit - index > Self.maximumRun { return limit }
        }
        return pending.count > Self.maximumRun + holdBack ? limit : nil
    }

    /// The segment `pending[0..<cut]` with secrets replaced, extended to the end of a
    /// secret that starts before the cut.
    private func replaceSecrets(upTo cut: Int) throws -> ([UInt8], Int) {
        guard !secrets.isEmpty else { return (Array(pending[0..<cut]), cut) }
        var out: [UInt8] = []
        out.reserveCapacity(cut)
        var index = 0
        var end = cut
        var copiedUpTo = 0
        var replaced = 0
        let count = pending.count
        let table = firstPairTable
        // Runs without a candidate first pair are copied in one piece: this is the hot loop.
        pending.withUnsafeBufferPointer { bytes in
            table.withUnsafeBufferPointer { starts in
                while index < end {
                    let candidate = index + 1 < count && starts[Int(bytes[index]) << 8 | Int(bytes[index + 1])]
                    if candidate, let pattern = match(bytes, at: index, count: count) {
                        out.append(contentsOf: bytes[copiedUpTo..<index])
                        out += pattern.fingerprint
                        index += pattern.bytes.count
                        copiedUpTo = index
                        if index > end { end = index }
                        replaced += 1
                    } else {
                        index += 1
                    }
                }
                out.append(contentsOf: bytes[copiedUpTo..<max(copiedUpTo, end)])
            }
        }
        secretsReplaced += replaced
        if mode == .refuseIfFound, secretsReplaced > 0 { throw Found(what: "a configured secret") }
        return (out, end)
    }

    private func match(_ bytes: UnsafeBufferPointer<UInt8>, at index: Int, count: Int) -> SecretInventory.Pattern? {
        outer: for pattern in secrets.patterns where index + pattern.bytes.count <= count {
            for (offset, expected) in pattern.bytes.enumerated() {
                var byte = bytes[index + offset]
                if pattern.caseInsensitive { byte = SecretInventory.lowercased(byte) }
                if byte != expected { continue outer }
            }
            return pattern
        }
        return nil
    }

    private static func isWordByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 48...57, 65...90, 97...122, UInt8(ascii: "_"): true
        default: false
        }
    }

    private static func isAddressByte(_ byte: UInt8) -> Bool {
        switch byte {
        case 48...57, 65...70, 97...102, UInt8(ascii: ":"), UInt8(ascii: "."): true
        default: false
        }
    }

    /// Replaces whole-token IPv4 and IPv6 addresses (an IPv4 address may carry `:port`).
    private func replaceAddresses(_ segment: [UInt8], after: UInt8) throws -> [UInt8] {
        guard let addresses else { return segment }
        var out: [UInt8] = []
        out.reserveCapacity(segment.count)
        var previous = self.previous
        var index = 0
        while index < segment.count {
            let byte = segment[index]
            let startsToken = Self.isAddressByte(byte) && byte != UInt8(ascii: ".")
                && !Self.isWordByte(previous) && previous != UInt8(ascii: ".")
            guard startsToken else {
                out.append(byte)
                previous = byte
                index += 1
                continue
            }
            var end = index
            while end < segment.count, Self.isAddressByte(segment[end]), end - index < 64 { end += 1 }
            var tokenEnd = end
            while tokenEnd > index, segment[tokenEnd - 1] == UInt8(ascii: ".") { tokenEnd -= 1 }
            let next = tokenEnd < segment.count ? segment[tokenEnd] : after
            var replaced: (name: String, length: Int)?
            let run = segment[index..<tokenEnd]
            if !run.contains(UInt8(ascii: ".")) && !run.contains(UInt8(ascii: ":")) {
                // No dot, no colon: a number or a word, never an address.
            } else if !Self.isWordByte(next),
               let address = IPAddress(String(decoding: segment[index..<tokenEnd], as: UTF8.self)) {
                replaced = addresses.pseudonym(for: address).map { ($0, tokenEnd - index) }
                if replaced == nil { replaced = ("", 0) }
            } else if let colon = segment[index..<tokenEnd].firstIndex(of: UInt8(ascii: ":")), colon > index,
                      let address = IPAddress(String(decoding: segment[index..<colon], as: UTF8.self)), address.isIPv4 {
                replaced = addresses.pseudonym(for: address).map { ($0, colon - index) }
                if replaced == nil { replaced = ("", 0) }
            }
            if let (name, length) = replaced, length > 0 {
                if mode == .refuseIfFound { throw Found(what: "a client address") }
                out += Array(name.utf8)
                index += length
                previous = UInt8(ascii: "0")
            } else {
                out += segment[index..<end]
                previous = segment[end - 1]
                index = end
            }
        }
        return out
    }
}
