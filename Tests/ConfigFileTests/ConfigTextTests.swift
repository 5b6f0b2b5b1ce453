import Testing
@testable import ConfigFile

@Suite struct ConfigTextTests {
    @Test(arguments: [
        ("500ms", Duration.milliseconds(500)),
        ("30s", .seconds(30)),
        ("5m", .seconds(300)),
        ("2h", .seconds(7_200)),
        ("7d", .seconds(604_800)),
        ("1h30m", .seconds(5_400)),
        ("0s", .zero),
        ("250us", .microseconds(250)),
    ])
    func durations(text: String, expected: Duration) {
        #expect(ConfigText.duration(text) == expected)
        #expect(ConfigText.duration(ConfigText.format(expected)) == expected)
    }

    @Test(arguments: ["", "5", "s", "5 s", "-5s", "5x", "1.5s", "5S", "99999999999999999999d", "106752d", "m5"])
    func badDurations(text: String) {
        #expect(ConfigText.duration(text) == nil)
    }

    @Test func durationFormatting() {
        #expect(ConfigText.format(.milliseconds(500)) == "500ms")
        #expect(ConfigText.format(.seconds(90)) == "1m30s")
        #expect(ConfigText.format(.seconds(604_800)) == "7d")
        #expect(ConfigText.milliseconds(.seconds(5)) == 5_000)
    }

    @Test(arguments: [
        ("64KiB", Int64(65_536)),
        ("100MiB", 104_857_600),
        ("1GiB", 1_073_741_824),
        ("1TiB", 1 << 40),
        ("10KB", 10_000),
        ("4096", 4_096),
        ("7B", 7),
    ])
    func sizes(text: String, expected: Int64) {
        #expect(ConfigText.byteSize(text) == expected)
        #expect(ConfigText.byteSize(ConfigText.formatBytes(expected)) == expected)
    }

    @Test(arguments: ["", "KiB", "64 KiB", "64kib", "-1KiB", "1.5GiB", "99999999999TiB", "64Ki"])
    func badSizes(text: String) {
        #expect(ConfigText.byteSize(text) == nil)
    }

    @Test func integers() {
        #expect(ConfigText.integer("10_000") == 10_000)
        #expect(ConfigText.integer("-2") == -2)
        #expect(ConfigText.integer("+7") == 7)
        for bad in ["", "_1", "1_", "1__0", "0x10", "1e3", "1.0", "-", "99999999999999999999999"] {
            #expect(ConfigText.integer(bad) == nil, "\(bad)")
        }
    }

    @Test func quotingEscapesAndTruncates() {
        #expect(ConfigText.quoted("a\"b\n") == "\"a\\\"b\\u{a}\"")
        #expect(ConfigText.quoted(String(repeating: "x", count: 100)).count == 43)
    }

    @Test func nearestKey() {
        #expect(ConfigText.nearest(to: "idle_timout", among: ["idle_timeout", "handshake_timeout"]) == "idle_timeout")
        #expect(ConfigText.nearest(to: "zzz", among: ["idle_timeout"]) == nil)
    }
}
