import ConfigFile
import EventLog

/// One immutable version of the blocklist: exact addresses, networks and `ip_hash`
/// values. `BlocklistStore` swaps whole versions, so a lookup never sees half a file.
public final class Blocklist: Sendable {
    /// One line of the file.
    public enum Entry: Sendable, Hashable {
        case address(IPAddress)
        case network(CIDR)
        case ipHash(String)
    }

    public struct Counts: Sendable, Hashable {
        public var addresses = 0
        public var networks = 0
        public var hashes = 0
    }

    public static let empty = Blocklist(entries: [])
    /// Blocklist files larger than this are refused whole; the old version stays.
    public static let maximumFileBytes = 256 << 20

    private let exact: Set<IPAddress>
    /// Networks by prefix length, longest first; a lookup masks once per distinct length.
    private let v4Networks: [(length: Int, networks: Set<IPAddress>)]
    private let v6Networks: [(length: Int, networks: Set<IPAddress>)]
    let hashes: Set<IPHashValue>
    public let counts: Counts

    public init(entries: some Sequence<Entry>) {
        var exact = Set<IPAddress>()
        var v4: [Int: Set<IPAddress>] = [:]
        var v6: [Int: Set<IPAddress>] = [:]
        var hashes = Set<IPHashValue>()
        for entry in entries {
            switch entry {
            case .address(let address):
                exact.insert(address)
            case .network(let cidr) where cidr.length == cidr.network.bitWidth:
                exact.insert(cidr.network)
            case .network(let cidr):
                if cidr.network.isIPv4 {
                    v4[cidr.length, default: []].insert(cidr.network)
                } else {
                    v6[cidr.length, default: []].insert(cidr.network)
                }
            case .ipHash(let hash):
                hashes.insert(IPHashValue(hash))
            }
        }
        self.exact = exact
        self.v4Networks = v4.sorted { $0.key > $1.key }.map { ($0.key, $0.value) }
        self.v6Networks = v6.sorted { $0.key > $1.key }.map { ($0.key, $0.value) }
        self.hashes = hashes
        self.counts = Counts(
            addresses: exact.count,
            networks: v4.values.reduce(0) { $0 + $1.count } + v6.values.reduce(0) { $0 + $1.count },
            hashes: hashes.count)
    }

    public var isEmpty: Bool { exact.isEmpty && v4Networks.isEmpty && v6Networks.isEmpty && hashes.isEmpty }

    /// True when the address or a network holding it is listed. `ip_hash` entries are
    /// checked by the store, which owns the hasher.
    public func containsAddress(_ address: IPAddress) -> Bool {
        if exact.contains(address) { return true }
        for table in address.isIPv4 ? v4Networks : v6Networks where table.networks.contains(address.masked(to: table.length)) {
            return true
        }
        return false
    }

    /// True when `hash` (an `ip_hash`) is listed.
    public func containsHash(_ hash: String) -> Bool { containsHash(IPHashValue(hash)) }

    public func containsHash(_ hash: IPHashValue) -> Bool { hashes.contains(hash) }
}

extension Blocklist {
    /// Parses blocklist text: one IPv4 or IPv6 address, CIDR or `ip_hash` per line,
    /// `#` starting a comment, blank lines ignored. A malformed line is returned as an
    /// error naming `file:line` and skipped; the rest applies.
    public static func parse(_ bytes: some Sequence<UInt8>, file: String) -> (blocklist: Blocklist, errors: [ConfigError]) {
        var entries: [Entry] = []
        var errors: [ConfigError] = []
        var lineNumber = 0
        for line in Array(bytes).split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            var content = line[...]
            if let hash = content.firstIndex(of: UInt8(ascii: "#")) { content = content[..<hash] }
            while let first = content.first, isBlank(first) { content = content.dropFirst() }
            while let last = content.last, isBlank(last) { content = content.dropLast() }
            if content.isEmpty { continue }
            switch entry(content) {
            case .success(let entry): entries.append(entry)
            case .failure(let problem): errors.append(ConfigError(file: file, line: lineNumber, message: problem.message))
            }
        }
        return (Blocklist(entries: entries), errors)
    }

    private static func isBlank(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r")
    }

    private struct LineProblem: Error {
        var message: String
    }

    private static func entry(_ bytes: ArraySlice<UInt8>) -> Result<Entry, LineProblem> {
        guard bytes.count <= 64, let text = String(validating: bytes, as: UTF8.self) else {
            return .failure(LineProblem(message: "expected an IP address, a CIDR or an ip_hash; the line is not one"))
        }
        if text.contains("/") {
            if let cidr = CIDR(text) { return .success(.network(cidr)) }
            let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            if let address = IPAddress(parts[0]), let length = Int(parts[1]), (0...address.bitWidth).contains(length) {
                return .failure(LineProblem(message: "\(ConfigText.quoted(text)) has host bits set below /\(length); the network is \(address.masked(to: length))/\(length)"))
            }
            return .failure(LineProblem(message: "expected a CIDR such as 203.0.113.0/24 or 2001:db8::/48, found \(ConfigText.quoted(text))"))
        }
        if let address = IPAddress(text) { return .success(.address(address)) }
        let lower = text.lowercased()
        if IPHasher.isHashText(lower) { return .success(.ipHash(lower)) }
        return .failure(LineProblem(message: "expected an IP address, a CIDR or an ip_hash (\(IPHasher.hashLength) hex characters), found \(ConfigText.quoted(text))"))
    }
}
