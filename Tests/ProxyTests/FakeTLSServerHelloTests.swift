import MTCrypto
import NIOCore
import Testing
@testable import Proxy

@Suite struct FakeTLSServerHelloTests {
    static let key = [UInt8](hex: "00112233445566778899aabbccddeeff")!

    /// PROTOCOL.md §4.4 vector.
    @Test func protocolVector() {
        let flight = ServerHelloFlight.make(
            clientRandom: [UInt8](repeating: 0x11, count: 32), sessionID: [UInt8](repeating: 0x22, count: 32),
            cipherSuite: 0x1301, keyShare: [UInt8](repeating: 0x33, count: 32),
            applicationData: [UInt8](repeating: 0x44, count: 16), key: Self.key)
        #expect(flight.count == 154)
        #expect(flight[11..<43].hexString == "ff3d0538c33179ac749750a31ee9d27a5889810b6627d976bf5e23558ea80f02")
        #expect(flight.hexString.hasPrefix("160303007a020000760303ff3d0538"))
        #expect(flight.hexString.hasSuffix("002b00020304" + "140303000101" + "1703030010" + String(repeating: "44", count: 16)))
        #expect(Array(flight[76..<81]) == [0x13, 0x01, 0x00, 0x00, 0x2e])
        #expect(FakeTLSClient.checkFlight(flight, clientRandom: [UInt8](repeating: 0x11, count: 32), key: Self.key)
            == .verified(length: 154))
    }

    static func authenticated(_ shape: FakeTLSClient.HelloShape) throws -> AuthenticatedHello {
        let secret = ProxySecret(name: "main", form: .faketls, key: key, domain: "www.example.com")
        let wire = FakeTLSClient.makeHello(key: key, domain: "www.example.com", unixTime: 1_790_000_000, shape: shape)
        let hello = try ClientHello.parse(image: wire)
        guard case .accepted(let accepted) = ClientHelloVerifier().verify(hello, secrets: [secret], now: 1_790_000_000) else {
            throw FakeTLSError(.digest, "test hello did not verify")
        }
        return accepted
    }

    /// The client's check (tdlib `wait_hello_response`) over a generated flight.
    @Test(arguments: FakeTLSClient.HelloShape.allCases)
    func clientAcceptsGeneratedFlight(_ shape: FakeTLSClient.HelloShape) throws {
        let accepted = try Self.authenticated(shape)
        let settings = FakeTLSSettings()
        let flight = ServerHelloFlight.make(for: accepted, settings: settings)
        #expect(FakeTLSClient.checkFlight(flight + [0x17, 0x03], clientRandom: accepted.hello.random, key: Self.key)
            == .verified(length: flight.count))
        #expect(flight.count - 127 - 6 - 5 >= settings.certificateLengths.lowerBound)
        #expect(flight.count - 127 - 6 - 5 <= settings.certificateLengths.upperBound)
        #expect(Array(flight[44..<76]) == accepted.hello.sessionID)
        #expect(Array(flight[81..<89]) == [0x00, 0x33, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20])
        #expect(Array(flight[121..<133]) == [0x00, 0x2b, 0x00, 0x02, 0x03, 0x04, 0x14, 0x03, 0x03, 0x00, 0x01, 0x01])
        for cut in [0, 4, 5, 100, 127, 137, flight.count - 1] {
            #expect(FakeTLSClient.checkFlight(Array(flight[0..<cut]), clientRandom: accepted.hello.random, key: Self.key)
                == .needMoreBytes)
        }
        var tampered = flight
        tampered[200] ^= 1
        #expect(FakeTLSClient.checkFlight(tampered, clientRandom: accepted.hello.random, key: Self.key) == .rejected)
        #expect(FakeTLSClient.checkFlight(flight, clientRandom: [UInt8](repeating: 0, count: 32), key: Self.key) == .rejected)
    }

    @Test func keySharesDiffer() throws {
        let accepted = try Self.authenticated(.legacy)
        let first = ServerHelloFlight.make(for: accepted, settings: FakeTLSSettings())
        let second = ServerHelloFlight.make(for: accepted, settings: FakeTLSSettings())
        #expect(first[89..<121] != second[89..<121])
        #expect(X25519.ephemeralPublicKey().count == 32)
    }

    @Test(arguments: [
        ([0x0a0a, 0x1303, 0x1301], 0x1303),
        ([0xc02b, 0x1302, 0x1301], 0x1302),
        ([0xc02b, 0xc02f], 0x1301),
    ] as [([UInt16], UInt16)])
    func cipherSuiteChoice(_ offered: [UInt16], _ chosen: UInt16) throws {
        var hello = try Self.authenticated(.legacy).hello
        hello.cipherSuites = offered
        #expect(ServerHelloFlight.cipherSuite(for: hello) == chosen)
    }

    @Test func shortSessionIDIsEchoed() {
        let flight = ServerHelloFlight.make(
            clientRandom: [UInt8](repeating: 1, count: 32), sessionID: [],
            cipherSuite: 0x1301, keyShare: [UInt8](repeating: 3, count: 32),
            applicationData: [4], key: Self.key)
        #expect(flight.count == 127 - 32 + 6 + 6)
        #expect(Array(flight[3..<5]) == [0x00, 0x5a])
        #expect(flight[43] == 0)
        #expect(FakeTLSClient.checkFlight(flight, clientRandom: [UInt8](repeating: 1, count: 32), key: Self.key)
            == .verified(length: flight.count))
    }
}
