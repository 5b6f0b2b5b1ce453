import Testing
import Foundation
import ConfigFile
@testable import Forensics

@Suite struct ArtifactCatalogTests {
    static var packageRoot: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    }

    @Test func shippedFileAndBuiltInTextAreTheSameAndLoad() throws {
        let file = try String(contentsOfFile: Self.packageRoot + "/forensics/artifacts.yaml", encoding: .utf8)
        #expect(file == ArtifactCatalog.shippedText + "\n")
        let catalog = try ArtifactCatalog.load(path: Self.packageRoot + "/forensics/artifacts.yaml")
        #expect(catalog == ArtifactCatalog.shipped())
        let names = catalog.artifacts.map(\.name)
        for required in ["proxy-config", "auditor-config", "proxy-events", "blocklist", "auditor-decisions", "auditor-reports",
                         "sockets-listening", "sockets-established", "processes", "nftables", "users-logged-in", "uptime",
                         "disk", "memory"] {
            #expect(names.contains(required), "\(required)")
        }
        #expect(catalog.artifacts.first { $0.name == "proxy-events" }?.source
                == .events(.reference(ArtifactSpec.ConfigReference("proxy:events.path")!)))
        #expect(catalog.artifacts.first { $0.name == "uptime" }?.archivePath == "system/uptime.txt")
    }

    /// Each bad list with the line and key its error must name.
    static let badLists: [(yaml: String, line: Int?, key: String?, words: String)] = [
        ("artifacts:\n  - name: a\n    kind: file\n    path: /x\n    to: a\n    colour: red\n", 6, "artifacts[0].colour", "unknown key"),
        ("artifacts:\n  - name: a\n    kind: tape\n    to: a\n", 3, "artifacts[0].kind", "expected one of"),
        ("artifacts:\n  - name: a\n    kind: file\n    path: /x\n", 2, nil, "needs"),
        ("artifacts:\n  - name: a\n    kind: file\n    path: relative\n    to: a\n", 4, "artifacts[0].path", "absolute"),
        ("artifacts:\n  - name: a\n    kind: file\n    from: nowhere:x\n    to: a\n", 4, "artifacts[0].from", "proxy:"),
        ("artifacts:\n  - name: a\n    kind: file\n    path: /x\n    to: ../etc/passwd\n", 5, "artifacts[0].to", "relative archive path"),
        ("artifacts:\n  - name: a\n    kind: file\n    path: /x\n    to: manifest.json\n", 5, "artifacts[0].to", "relative archive path"),
        ("artifacts:\n  - name: a\n    kind: command\n    run: []\n", 4, "artifacts[0].run", "command"),
        ("artifacts:\n  - name: a\n    kind: command\n    run: [ls]\n    timeout: forever\n", 5, "artifacts[0].timeout", "duration"),
        ("artifacts:\n  - name: a\n    kind: command\n    run: [ls]\n    window: true\n", 2, nil, "does not apply"),
        ("artifacts:\n  - name: a\n    kind: command\n    run: [ls]\n  - name: a\n    kind: command\n    run: [ps]\n    to: b\n",
         nil, "artifacts[1].name", "used twice"),
        ("artifacts:\n  - name: Bad Name\n    kind: command\n    run: [ls]\n", 2, "artifacts[0].name", "lower-case"),
        ("artefacts: []\n", 1, "artefacts", "did you mean artifacts"),
        ("artifacts: [\n", nil, nil, "YAML"),
    ]

    @Test(arguments: badLists)
    func badListsAreRefusedWithFileLineAndKey(bad: (yaml: String, line: Int?, key: String?, words: String)) {
        #expect {
            _ = try ArtifactCatalog.parse(yaml: bad.yaml, file: "list.yaml")
        } throws: { error in
            guard let error = error as? ConfigError else { return false }
            let lineMatches = bad.line == nil || error.line == bad.line
            let keyMatches = bad.key == nil || error.key == bad.key
            return error.file == "list.yaml" && lineMatches && keyMatches && error.description.contains(bad.words)
        }
    }

    @Test func commandDefaultsItsArchivePath() throws {
        let catalog = try ArtifactCatalog.parse(yaml: "artifacts:\n  - name: routes\n    kind: command\n    run: [ip, route]\n    timeout: 2s\n",
                                                file: "x")
        #expect(catalog.artifacts == [ArtifactSpec(name: "routes", archivePath: "system/routes.txt",
                                                   source: .command(["ip", "route"], timeout: .seconds(2)))])
    }
}
