import EventLog
import Testing

@Suite struct IPAddressTests {
    @Test(arguments: [
        ("203.0.113.7", "203.0.113.7"), ("::1", "::1"), ("2001:DB8:0:0:1:0:0:1", "2001:db8::1:0:0:1"),
        ("::ffff:192.0.2.1", "192.0.2.1"), ("2001:67c:04e8:f002::a", "2001:67c:4e8:f002::a"),
        ("::", "::"), ("1::", "1::"), ("2a0a:f280:0203:000a:5000:0000:0000:0100", "2a0a:f280:203:a:5000::100"),
    ])
    func parsesAndFormats(text: String, canonical: String) throws {
        let address = try #require(IPAddress(text))
        #expect(address.description == canonical)
        #expect(IPAddress(address.description) == address)
        #expect(IPAddress(bytes: address.bytes) == address)
    }

    @Test(arguments: ["", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.-4", ":::", "1:2:3:4:5:6:7:8:9",
                      "1::2::3", "g::1", "12345::", "1.2.3.4/", " 1.2.3.4", "::1.2.3"])
    func rejectsMalformed(text: String) {
        #expect(IPAddress(text) == nil)
    }

    @Test func prefixesAndCIDR() throws {
        let v4 = try #require(IPAddress("198.51.100.77"))
        #expect(v4.eventPrefix.description == "198.51.100.0/24")
        let v6 = try #require(IPAddress("2001:db8:1234:5678::1"))
        #expect(v6.eventPrefix.description == "2001:db8:1234::/48")
        let net = try #require(CIDR("198.51.100.0/24"))
        #expect(net.contains(v4))
        #expect(!net.contains(try #require(IPAddress("198.51.101.1"))))
        #expect(!net.contains(v6))
        #expect(CIDR("198.51.100.1/24") == nil, "host bits set")
        #expect(CIDR("198.51.100.1/33") == nil)
        #expect(CIDR("10.0.0.0/") == nil)
        #expect(try #require(CIDR("0.0.0.0/0")).contains(v4))
        #expect(try #require(CIDR("::/0")).contains(v6))
        #expect(try #require(CIDR("2001:db8::/32")).contains(v6))
    }

    @Test func randomRoundTrips() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let bytes = (0..<(Bool.random(using: &generator) ? 4 : 16)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            guard let address = IPAddress(bytes: bytes) else { Issue.record("bytes rejected"); return }
            #expect(IPAddress(address.description) == address)
            let length = Int.random(in: 0...address.bitWidth, using: &generator)
            let cidr = CIDR(address.masked(to: length).description + "/\(length)")
            #expect(cidr?.contains(address) == true)
        }
    }

    /// A `String` is read by its bytes, anything else through the generic form: both
    /// accept and reject the same texts, and read them alike.
    @Test func stringsAndOtherTextAgree() {
        var random = SystemRandomNumberGenerator()
        let pieces = ["203.0.113.7", "198.51.100.0", "1.2.3", "256.0.0.0", "01.2.3.4", "::1", "2001:db8::", "2001:db8:1::",
                      "::ffff:192.0.2.0", "g::1", "", "/", "//", "/24", "/0", "/32", "/33", "/128", "/129", "/024", "/2x",
                      "/-1", "/ 24", "/+24", "/99999999999999999999999", "/\u{301}24", "\u{301}", " ", "\u{FF10}"]
        var texts: [String] = []
        for _ in 0..<5_000 {
            texts.append((0..<Int.random(in: 1...3, using: &random)).map { _ in pieces.randomElement(using: &random)! }.joined())
        }
        for text in texts {
            #expect(IPAddress(text) == IPAddress(Substring(text)), "\(text)")
            #expect(CIDR(text) == CIDR(Substring(text)), "\(text)")
        }
    }
}
