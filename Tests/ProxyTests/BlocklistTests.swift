import ConfigFile
import EventLog
import Synchronization
import Testing
@testable import Proxy

@Suite struct BlocklistTests {
    static let fixedHasher = IPHasher(makeKey: { [UInt8](repeating: 7, count: 32) })
    static let noon: Int64 = 1_764_000_000_000

    static func store(_ text: String, file: String = "blocklist.txt") -> (BlocklistStore, [ConfigError]) {
        let (blocklist, errors) = Blocklist.parse(Array(text.utf8), file: file)
        return (BlocklistStore(hasher: fixedHasher, now: { noon }, blocklist: blocklist), errors)
    }

    @Test func parsesEveryKindOfLineAndReportsBadOnes() {
        let hash = Self.fixedHasher.hash(IPAddress("198.51.100.7")!, nowMilliseconds: Self.noon)
        let text = """
        # blocked by mtauditor
        203.0.113.5
        192.0.2.0/24   # a whole network
        2001:db8::1
        2001:db8:1::/48\r

        \(hash.uppercased())
        not-an-address
        10.0.0.1/33
        10.0.0.1/8
        """
        let (store, errors) = Self.store(text)
        #expect(store.blocklist.counts == Blocklist.Counts(addresses: 2, networks: 2, hashes: 1))
        #expect(errors.map(\.line) == [8, 9, 10])
        #expect(errors.map(\.file) == ["blocklist.txt", "blocklist.txt", "blocklist.txt"])
        #expect(errors[0].description == "blocklist.txt:8: expected an IP address, a CIDR or an ip_hash (32 hex characters), found \"not-an-address\"")
        #expect(errors[2].message == "\"10.0.0.1/8\" has host bits set below /8; the network is 10.0.0.0/8")

        #expect(store.blocks(IPAddress("203.0.113.5")!))
        #expect(!store.blocks(IPAddress("203.0.113.6")!))
        #expect(store.blocks(IPAddress("192.0.2.200")!))
        #expect(!store.blocks(IPAddress("192.0.3.1")!))
        #expect(store.blocks(IPAddress("2001:db8::1")!))
        #expect(store.blocks(IPAddress("2001:db8:1:ffff::9")!))
        #expect(!store.blocks(IPAddress("2001:db8:2::1")!))
        #expect(store.blocks(IPAddress("198.51.100.7")!))
        #expect(!store.blocks(IPAddress("198.51.100.8")!))
        #expect(store.blocks(IPAddress("::ffff:203.0.113.5")!))
    }

    @Test func hashEntriesFollowTheHasherDay() {
        let address = IPAddress("198.51.100.7")!
        let hasher = IPHasher()
        let today = hasher.hash(address, nowMilliseconds: Self.noon)
        let clock = BlocklistTestClock(Self.noon)
        let store = BlocklistStore(hasher: hasher, now: { clock.now }, blocklist: Blocklist(entries: [.ipHash(today)]))
        #expect(store.blocks(address))
        clock.now = Self.noon + 86_400_000
        #expect(!store.blocks(address))
    }

    @Test func zeroLengthNetworksBlockTheirWholeFamily() {
        let (store, errors) = Self.store("0.0.0.0/0\n")
        #expect(errors.isEmpty)
        #expect(store.blocks(IPAddress("8.8.8.8")!))
        #expect(!store.blocks(IPAddress("::2")!))
    }

    @Test func replaceSwapsTheWholeVersion() {
        let (store, _) = Self.store("203.0.113.5\n")
        store.replace(with: Blocklist.parse(Array("203.0.113.6\n".utf8), file: "b").blocklist)
        #expect(!store.blocks(IPAddress("203.0.113.5")!))
        #expect(store.blocks(IPAddress("203.0.113.6")!))
    }

    /// Random lists against a plain reference: the store blocks exactly what some entry covers.
    @Test func matchesAReferenceOnRandomLists() {
        var random = SeededGenerator(seed: 99)
        for _ in 0..<200 {
            var cidrs: [CIDR] = []
            var lines: [String] = []
            for _ in 0..<Int.random(in: 0..<20, using: &random) {
                let address = Self.randomAddress(&random)
                let length = Int.random(in: 0...address.bitWidth, using: &random)
                let cidr = CIDR("\(address.masked(to: length))/\(length)")!
                cidrs.append(cidr)
                lines.append(length == address.bitWidth && Bool.random(using: &random) ? "\(cidr.network)" : "\(cidr)")
            }
            let (store, errors) = Self.store(lines.joined(separator: "\n"))
            #expect(errors.isEmpty)
            for _ in 0..<50 {
                var probe = Self.randomAddress(&random)
                if let near = cidrs.randomElement(using: &random), Bool.random(using: &random) {
                    probe = Self.perturbed(near.network, &random)
                }
                #expect(store.blocks(probe) == cidrs.contains { $0.contains(probe) }, "\(probe) against \(lines)")
            }
        }
    }

    /// Random bytes never crash the parser, and every non-blank line is either an entry or an error.
    @Test func randomLinesNeverCrash() {
        var random = SeededGenerator(seed: 1234)
        let alphabet = Array("0123456789abcdef:./# \t\r\nxyz-".utf8)
        for _ in 0..<2_000 {
            let bytes = (0..<Int.random(in: 0..<200, using: &random)).map { _ in
                Int.random(in: 0..<10, using: &random) == 0 ? UInt8.random(in: 0...255, using: &random) : alphabet.randomElement(using: &random)!
            }
            let (blocklist, errors) = Blocklist.parse(bytes, file: "fuzz")
            let lineCount = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).count
            #expect(errors.allSatisfy { ($0.line ?? 0) >= 1 && ($0.line ?? 0) <= lineCount })
            #expect(blocklist.counts.addresses + blocklist.counts.networks + blocklist.counts.hashes + errors.count <= lineCount)
        }
    }

    static func randomAddress(_ random: inout SeededGenerator) -> IPAddress {
        if Bool.random(using: &random) {
            return .v4(UInt32.random(in: 0...UInt32.max, using: &random))
        }
        return IPAddress(bytes: (0..<16).map { _ in UInt8.random(in: 0...255, using: &random) }) ?? .v4(0)
    }

    static func perturbed(_ address: IPAddress, _ random: inout SeededGenerator) -> IPAddress {
        var bytes = address.bytes
        let index = Int.random(in: 0..<bytes.count, using: &random)
        bytes[index] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &random)
        return IPAddress(bytes: bytes) ?? address
    }
}

/// A settable clock for tests.
final class BlocklistTestClock: Sendable {
    private let lock = Mutex<Int64>(0)
    init(_ start: Int64) { lock.withLock { $0 = start } }
    var now: Int64 {
        get { lock.withLock { $0 } }
        set { lock.withLock { $0 = newValue } }
    }
}

