import NIOCore
import Testing
@testable import Proxy

/// Bounded property tests over the parsers that face the network: whatever arrives, in
/// whatever segments, the answer is classified and nothing traps. Seeds are fixed so a
/// failure reproduces; the whole suite runs in a few seconds.
@Suite struct FakeTLSPropertyTests {
    static let key = [UInt8](hex: "00112233445566778899aabbccddeeff")!
    static let secrets = [ProxySecret(name: "main", form: .faketls, key: key, domain: "www.example.com")]

    static func chunks(_ count: Int, using generator: inout SeededGenerator) -> [Int] {
        var sizes: [Int] = []
        var total = 0
        while total < count {
            let size = Int.random(in: 1...max(1, count / 3), using: &generator)
            sizes.append(size)
            total += size
        }
        return sizes
    }

    static func classify(_ bytes: [UInt8], using generator: inout SeededGenerator) -> String {
        classifyHello(bytes, using: &generator).verdict
    }

    static func classifyHello(_ bytes: [UInt8], using generator: inout SeededGenerator) -> (verdict: String, hello: ClientHello?) {
        let step = HelloWire.read(bytes, chunks: chunks(bytes.count, using: &generator))
        switch step {
        case .needMoreBytes:
            return ("needMoreBytes", nil)
        case .notTLS(let received):
            #expect(received.readableBytes <= bytes.count)
            #expect(Array(buffer: received) == Array(bytes[0..<received.readableBytes]))
            return ("notTLS", nil)
        case .malformed(let error, let received):
            #expect(error.code == .malformed)
            #expect(Array(buffer: received) == Array(bytes[0..<received.readableBytes]))
            return ("malformed", nil)
        case .hello(let hello, let received, let trailing):
            #expect(Array(buffer: received) + Array(buffer: trailing) == Array(bytes[0..<(received.readableBytes + trailing.readableBytes)]))
            switch ClientHelloVerifier().verify(hello, secrets: secrets, now: 1_790_000_000) {
            case .accepted: return ("accepted", hello)
            case .rejected(let error, _): return (error.reason, hello)
            }
        }
    }

    @Test func randomBytesAreClassified() {
        var generator = SeededGenerator(seed: 0x5eed)
        var seen: [String: Int] = [:]
        for round in 0..<3000 {
            var bytes = (0..<Int.random(in: 0...600, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if round % 2 == 0, bytes.count >= 5 {
                // Give half of them a plausible record header so the deeper states are reached.
                bytes.replaceSubrange(0..<5, with: [0x16, 0x03, 0x01, UInt8.random(in: 0...2, using: &generator), UInt8.random(in: 0...255, using: &generator)])
            }
            seen[Self.classify(bytes, using: &generator), default: 0] += 1
        }
        #expect(seen["notTLS", default: 0] > 0)
        #expect(seen["needMoreBytes", default: 0] + seen["malformed", default: 0] > 0)
    }

    @Test(arguments: FakeTLSClient.HelloShape.allCases)
    func mutatedHellosAreClassified(_ shape: FakeTLSClient.HelloShape) {
        var generator = SeededGenerator(seed: shape == .current ? 1 : 2)
        let wire = FakeTLSClient.makeHello(key: Self.key, domain: "www.example.com", unixTime: 1_790_000_000, shape: shape)
        let original = try! ClientHello.parse(image: wire)
        var seen: [String: Int] = [:]
        for _ in 0..<1500 {
            var bytes = wire
            if Bool.random(using: &generator) {
                bytes = HelloWire.fragment(bytes, payloadSizes: HelloWire.randomSizes(bytes, count: Int.random(in: 2...10, using: &generator), using: &generator))
            }
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let at = Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0..<5, using: &generator) {
                case 0: bytes[at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &generator)
                case 1: bytes[at] = UInt8.random(in: 0...255, using: &generator)
                case 2: bytes.removeSubrange(at..<min(bytes.count, at + Int.random(in: 1...64, using: &generator)))
                case 3: bytes.insert(contentsOf: (0..<Int.random(in: 1...8, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }, at: at)
                default: bytes.removeSubrange(at...)
                }
                if bytes.isEmpty { break }
            }
            let (verdict, hello) = Self.classifyHello(bytes, using: &generator)
            if verdict == "accepted", let hello {
                // Only the XORed timestamp (random[28,32)) is malleable: everything signed is unchanged.
                #expect(hello.signedImage == original.signedImage)
                #expect(hello.random[0..<28] == original.random[0..<28])
            }
            seen[verdict, default: 0] += 1
        }
        #expect(seen["malformed", default: 0] > 0)
        #expect(seen["tls_digest", default: 0] > 0)
    }

    @Test func randomRecordStreamsAreClassified() {
        var generator = SeededGenerator(seed: 99)
        for _ in 0..<3000 {
            var bytes: [UInt8] = []
            for _ in 0..<Int.random(in: 0...4, using: &generator) {
                let type: UInt8 = [0x14, 0x17, 0x17, 0x15, UInt8.random(in: 0...255, using: &generator)].randomElement(using: &generator)!
                let length = Int.random(in: 0...40, using: &generator)
                bytes += [type, 0x03, [0x03, 0x03, 0x01].randomElement(using: &generator)!, UInt8(length >> 8), UInt8(length)]
                bytes += (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            }
            var decoder = FakeTLSRecordDecoder()
            var output = ByteBuffer()
            var input = ByteBuffer(bytes: bytes)
            do {
                try decoder.decode(&input, into: &output)
                #expect(output.readableBytes <= bytes.count)
            } catch {
                #expect(error.code == .malformed)
                #expect(error.offset.map { $0 >= 0 && $0 < bytes.count } == true)
            }
        }
    }
}
