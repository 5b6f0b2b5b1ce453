import EventLog
import MTCrypto
import NIOCore
import Synchronization
@testable import Proxy

/// Collects events for assertions.
final class RecordingEventSink: EventSink {
    private let recorded = Mutex<[Event]>([])

    func emit(_ event: Event) {
        recorded.withLock { $0.append(event) }
    }

    var events: [Event] { recorded.withLock { $0 } }

    func actions() -> [String] { events.map(\.action.rawValue) }

    func first(_ action: EventAction) -> Event? { events.first { $0.action == action } }
}

/// A client's side of obfuscated2 (PROTOCOL.md §2.4), written independently of the proxy code.
struct TestClient {
    let header: [UInt8]
    let encryptor: AESCTR
    let decryptor: AESCTR

    init(key: [UInt8], tagByte: UInt8, dc: Int) {
        var packet = SecureRandom.bytes(64)
        packet[0] = 0x42 // keep clear of the forbidden first bytes
        for index in 56..<60 { packet[index] = tagByte }
        let raw = UInt16(bitPattern: Int16(dc))
        packet[60] = UInt8(truncatingIfNeeded: raw)
        packet[61] = UInt8(truncatingIfNeeded: raw >> 8)
        let encryptor = AESCTR(key: SHA256.hash(packet[8..<40] + key), iv: packet[40..<56])
        let encrypted = encryptor.transform(packet)
        self.header = Array(packet[0..<56]) + encrypted[56...]
        self.encryptor = encryptor
        let reversed = Array(packet[8..<56].reversed())
        self.decryptor = AESCTR(key: SHA256.hash(reversed[0..<32] + key), iv: reversed[32..<48])
    }
}

/// A DC's side of the proxy's header (PROTOCOL.md §3.1): raw keys, no secret.
struct TestDCLeg {
    let tag: [UInt8]
    let dc: Int
    let decryptor: AESCTR
    let encryptor: AESCTR

    init(header: [UInt8]) {
        precondition(header.count == 64)
        let decryptor = AESCTR(key: header[8..<40], iv: header[40..<56])
        let plain = decryptor.transform(header)
        self.tag = Array(plain[56..<60])
        self.dc = Int(Int16(bitPattern: UInt16(plain[60]) | UInt16(plain[61]) << 8))
        self.decryptor = decryptor
        let reversed = Array(header[8..<56].reversed())
        self.encryptor = AESCTR(key: reversed[0..<32], iv: reversed[32..<48])
    }
}

enum TestSecrets {
    static let main = ProxySecret(name: "main", form: .secure, key: [UInt8](hex: "00112233445566778899aabbccddeeff")!)
    static let other = ProxySecret(name: "other", form: .classic, key: [UInt8](hex: "ffeeddccbbaa99887766554433221100")!)

    static func configuration(dcs: [Int: [String]] = [2: ["127.0.0.1:9"]]) -> ProxyConfiguration {
        var configuration = ProxyConfiguration()
        configuration.instance = "test"
        configuration.secrets = [other, main]
        configuration.telegram.dcs = dcs
        return configuration
    }
}

extension ByteBuffer {
    var bytes: [UInt8] { Array(readableBytesView) }
}

/// SplitMix64: reproducible randomness for property tests (the seed is in the test), so a
/// failing case can be replayed from its seed.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}
