import Testing
import Foundation
@testable import Forensics

@Suite struct RecordTests {
    static let hash = String(repeating: "ab", count: 32)

    @Test func manifestRoundTrips() throws {
        let manifest = EvidenceManifest(files: [.init(path: "custody.json", size: 10, sha256: Self.hash),
                                                .init(path: "proxy/events.jsonl", size: 0, sha256: Self.hash)])
        #expect(try EvidenceManifest.decode(manifest.encoded()) == manifest)
    }

    static let badManifests: [String] = [
        "",
        "[]",
        #"{"format":"other","version":1,"algorithm":"sha256","files":[]}"#,
        #"{"format":"mtshield-evidence-manifest","version":2,"algorithm":"sha256","files":[]}"#,
        #"{"format":"mtshield-evidence-manifest","version":1,"algorithm":"md5","files":[]}"#,
        #"{"format":"mtshield-evidence-manifest","version":1,"algorithm":"sha256","files":[{"path":"../x","size":1,"sha256":"\#(hash)"}]}"#,
        #"{"format":"mtshield-evidence-manifest","version":1,"algorithm":"sha256","files":[{"path":"/etc/x","size":1,"sha256":"\#(hash)"}]}"#,
        #"{"format":"mtshield-evidence-manifest","version":1,"algorithm":"sha256","files":[{"path":"a","size":1,"sha256":"ABAB"}]}"#,
        #"{"format":"mtshield-evidence-manifest","version":1,"algorithm":"sha256","files":[{"path":"a","size":-1,"sha256":"\#(hash)"}]}"#,
        #"{"format":"mtshield-evidence-manifest","version":1,"algorithm":"sha256","files":[{"path":"a","size":1,"sha256":"\#(hash)"},{"path":"a","size":1,"sha256":"\#(hash)"}]}"#,
        #"{"format":"mtshield-evidence-manifest","version":1,"algorithm":"sha256","files":[{"path":"manifest.json","size":1,"sha256":"\#(hash)"}]}"#,
    ]

    @Test(arguments: badManifests)
    func badManifestsAreRefused(text: String) {
        #expect(throws: ForensicsError.self) { _ = try EvidenceManifest.decode(Array(text.utf8)) }
    }

    /// Mutated manifests: decoding succeeds or throws, and what it accepts is well formed.
    @Test func survivesMutatedManifests() throws {
        let valid = EvidenceManifest(files: (0..<5).map { .init(path: "dir/file\($0)", size: UInt64($0), sha256: Self.hash) }).encoded()
        var generator = SeededGenerator(seed: 11)
        for _ in 0..<500 {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
            }
            if let manifest = try? EvidenceManifest.decode(bytes) {
                #expect(manifest.files.allSatisfy { ArchivePath.isSafe($0.path) && $0.sha256.count == 64 })
            }
        }
        for _ in 0..<200 {
            _ = try? EvidenceManifest.decode([UInt8].random(Int.random(in: 0...200, using: &generator), using: &generator))
        }
    }

    @Test(arguments: ["a", "a/b", "proxy/events.jsonl", "a.b/c..d", "日本/x"])
    func safePaths(path: String) {
        #expect(ArchivePath.isSafe(path))
    }

    @Test(arguments: ["", "/a", "a/../b", "..", ".", "a//b", "a/", "./a", "a\\b", "a\u{0}b", "a\nb",
                      String(repeating: "x", count: 256), String(repeating: "a/", count: 600) + "a"])
    func unsafePaths(path: String) {
        #expect(!ArchivePath.isSafe(path))
    }

    @Test func custodyRoundTrips() throws {
        let custody = CustodyRecord(
            incident: "INC-7", operator: "alice", host: "vps1",
            clock: .init(utc: "2026-11-24T22:00:00.000Z", source: "system clock (CLOCK_REALTIME)", kernelClocksource: "tsc", synchronized: true),
            tool: .init(name: "mtforensics", version: "0.1.0"), commandLine: ["mtforensics", "snapshot"],
            window: .init(since: "2026-11-23T22:00:00.000Z", until: "2026-11-24T22:00:00.000Z"), format: "tar+lz4",
            byteBudget: 1 << 30, redaction: .init(secrets: "x", addresses: "kept", secretCount: 2),
            artifacts: [ArtifactOutcome(name: "uptime", kind: "command", source: "uptime", status: .collected)])
        #expect(try CustodyRecord.decode(custody.encoded()) == custody)
        let text = String(decoding: custody.encoded(), as: UTF8.self)
        #expect(text.contains("\"command_line\""))
        #expect(text.contains("\"kernel_clocksource\""))
    }

    @Test(arguments: [
        ("2026-11-24T22:56:06.123Z", Int64(1_795_560_966_123)),
        ("2026-11-24T22:56:06Z", 1_795_560_966_000),
        ("2026-11-24T23:56:06.1+01:00", 1_795_560_966_100),
        ("1970-01-01T00:00:00.000Z", 0),
        ("2000-02-29T12:00:00.999999Z", 951_825_600_999),
    ])
    func parsesTimestamps(text: String, milliseconds: Int64) {
        #expect(RFC3339.milliseconds(Array(text.utf8)) == milliseconds)
    }

    @Test(arguments: ["", "2026-11-24", "2026-13-24T22:56:06Z", "2026-11-24T22:56:06", "2026-11-24T22:56:06.Z",
                      "2026-11-24T25:56:06Z", "2026-11-24T22:56:06Zjunk", "2026-11-24T22:56:06+0100"])
    func rejectsBadTimestamps(text: String) {
        #expect(RFC3339.milliseconds(Array(text.utf8)) == nil)
    }

    @Test func formatsTimestampsBackExactly() {
        for value: Int64 in [0, 1_795_560_966_123, 951_825_600_999, 4_102_444_800_000] {
            #expect(RFC3339.milliseconds(Array(RFC3339.format(milliseconds: value).utf8)) == value)
        }
        #expect(RFC3339.format(milliseconds: 1_795_560_966_123) == "2026-11-24T22:56:06.123Z")
    }

    @Test func eventWindowKeepsLinesInsideAndUndated() {
        let lines = [
            #"{"@timestamp":"2026-11-24T10:00:00.000Z","event.action":"a"}"#,
            #"{"@timestamp":"2026-11-24T12:00:00.000Z","event.action":"b"}"#,
            #"{"event.action":"undated"}"#,
            #"{"@timestamp" : "2026-11-24T14:00:00.000Z","event.action":"c"}"#,
        ].joined(separator: "\n") + "\n"
        let since = RFC3339.milliseconds(Array("2026-11-24T11:00:00.000Z".utf8))!
        let until = RFC3339.milliseconds(Array("2026-11-24T13:00:00.000Z".utf8))!
        let filter = EventWindowFilter(sinceMilliseconds: since, untilMilliseconds: until)
        var out: [UInt8] = []
        for byte in Array(lines.utf8) {
            out += [byte].withUnsafeBytes { filter.process($0, final: false) }
        }
        out += filter.process(UnsafeRawBufferPointer(start: nil, count: 0), final: true)
        let kept = String(decoding: out, as: UTF8.self)
        #expect(kept.contains("\"b\"") && kept.contains("undated"))
        #expect(!kept.contains("\"a\"") && !kept.contains("\"c\""))
        #expect(filter.linesOutside == 2)
    }
}
