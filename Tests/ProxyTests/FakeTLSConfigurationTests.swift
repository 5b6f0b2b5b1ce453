import ConfigFile
import NIOCore
import Testing
@testable import Proxy

/// The `tls`, `replay` and `fronting` keys: defaults, values, and errors naming file:line:key.
@Suite struct FakeTLSConfigurationTests {
    static let minimal = ProxyConfigurationLoadingTests.minimal

    @Test func defaultsProtectAgainstReplayAndFrontToTheSecretsDomain() throws {
        let configuration = try ProxyConfiguration.decode(yaml: Self.minimal, file: "d.yaml")
        #expect(configuration.replay.enabled)
        #expect(configuration.replay.capacity == 262_144)
        #expect(configuration.replay.timeToLive == .minutes(30))
        #expect(configuration.fakeTLS.maximumTimestampLag == 600)
        #expect(configuration.fakeTLS.maximumTimestampLead == 1200)
        #expect(configuration.fakeTLS.serverNamePolicy == .any)
        #expect(configuration.fronting.enabled)
        #expect(configuration.fronting.host == "www.example.com")
        #expect(configuration.fronting.connectTimeoutMilliseconds == 10_000)
        let settings = ProxySettings(configuration)
        #expect(settings.acceptsFakeTLS)
        #expect(settings.replayFilter != nil)
        #expect(settings.frontingTargets == [.name(HostAndPort(host: "www.example.com", port: 443, address: nil))])
    }

    @Test func everyKeyIsRead() throws {
        let yaml = Self.minimal + """
            fronting:
              host: 127.0.0.1
              port: 8443
              connect_timeout: 3s
            tls:
              max_clock_skew: {behind: 2m, ahead: 5m}
              sni_policy: match
              allow_missing_sni: false
            replay:
              max_memory: 1MiB
              ttl: 1h

            """
        let configuration = try ProxyConfiguration.decode(yaml: yaml, file: "k.yaml")
        #expect(configuration.fronting.host == "127.0.0.1")
        #expect(configuration.fronting.port == 8443)
        #expect(configuration.fronting.connectTimeoutMilliseconds == 3000)
        #expect(configuration.fakeTLS.maximumTimestampLag == 120)
        #expect(configuration.fakeTLS.maximumTimestampLead == 300)
        #expect(configuration.fakeTLS.serverNamePolicy == .match)
        #expect(!configuration.fakeTLS.allowMissingServerName)
        #expect(configuration.replay.capacity == (1 << 20) / ReplayFilter.maximumBytesPerEntry)
        #expect(configuration.replay.timeToLive == .hours(1))
        let settings = ProxySettings(configuration)
        #expect(settings.frontingTargets == [.address(try SocketAddress(ipAddress: "127.0.0.1", port: 8443))])
    }

    @Test func oneSkewSetsBothSides() throws {
        let configuration = try ProxyConfiguration.decode(yaml: Self.minimal + "tls:\n  max_clock_skew: 5m\n", file: "s.yaml")
        #expect(configuration.fakeTLS.maximumTimestampLag == 300)
        #expect(configuration.fakeTLS.maximumTimestampLead == 300)
    }

    @Test func replayAndFrontingCanBeTurnedOff() throws {
        let yaml = Self.minimal + "replay:\n  enabled: false\nfronting:\n  enabled: false\n"
        let settings = ProxySettings(try ProxyConfiguration.decode(yaml: yaml, file: "o.yaml"))
        #expect(settings.replayFilter == nil)
        #expect(settings.frontingTargets == nil)
    }

    @Test func reloadKeepsTheReplayFilterUnlessItsSettingsChange() throws {
        let first = ProxySettings(try ProxyConfiguration.decode(yaml: Self.minimal, file: "r.yaml"))
        let same = ProxySettings(try ProxyConfiguration.decode(yaml: Self.minimal + "instance: other\n", file: "r.yaml"), previous: first)
        #expect(same.replayFilter === first.replayFilter)
        let changed = ProxySettings(try ProxyConfiguration.decode(yaml: Self.minimal + "replay:\n  ttl: 2h\n", file: "r.yaml"), previous: first)
        #expect(changed.replayFilter !== first.replayFilter)
    }

    @Test func faketlsOnlyWithoutPlainTransports() throws {
        let settings = ProxySettings(try ProxyConfiguration.decode(yaml: Self.minimal + "transports: [faketls]\n", file: "t.yaml"))
        #expect(settings.acceptsFakeTLS)
        #expect(!settings.acceptsPlainObfuscated2)
    }

    @Test(arguments: [
        (minimal + "tls:\n  max_clock_skew: 3\n", "x.yaml:5: tls.max_clock_skew: expected a duration such as 500ms, 30s, 5m, 2h or 7d, found \"3\""),
        (minimal + "tls:\n  max_clock_skew: {behind: 1m, later: 2m}\n", "x.yaml:5: tls.max_clock_skew.later: unknown key; expected one of ahead, behind"),
        (minimal + "tls:\n  max_clock_skew: 30d\n", "x.yaml:5: tls.max_clock_skew: must be between 1s and 7d, found 30d"),
        (minimal + "tls:\n  sni_policy: exact\n", "x.yaml:5: tls.sni_policy: expected one of any, match, found \"exact\""),
        (minimal + "tls:\n  sni: any\n", "x.yaml:5: tls.sni: unknown key; expected one of allow_missing_sni, max_clock_skew, sni_policy"),
        (minimal + "replay:\n  max_memory: 10KiB\n", "x.yaml:5: replay.max_memory: must be between 1MiB and 64GiB, found 10KiB"),
        (minimal + "replay:\n  ttl: 10m\n", "x.yaml:5: replay.ttl: replay.ttl (10m) must be at least the fake-TLS timestamp window, tls.max_clock_skew behind + ahead (30m): otherwise a recorded hello could be replayed after its entry expires"),
        (minimal + "tls:\n  max_clock_skew: 1h\n", "x.yaml:5: tls.max_clock_skew: replay.ttl (30m) must be at least the fake-TLS timestamp window, tls.max_clock_skew behind + ahead (2h): otherwise a recorded hello could be replayed after its entry expires"),
        (minimal + "fronting:\n  connect_timeout: 0s\n", "x.yaml:5: fronting.connect_timeout: must be between 100ms and 5m, found 0s"),
        (minimal + "fronting:\n  port: 0\n", "x.yaml:5: fronting.port: must be between 1 and 65535, found 0"),
    ])
    func badValuesSayWhereAndWhat(yaml: String, expected: String) {
        let error = #expect(throws: ConfigError.self) { try ProxyConfiguration.decode(yaml: yaml, file: "x.yaml") }
        #expect(error?.description == expected)
    }
}
