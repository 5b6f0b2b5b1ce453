import Testing
@testable import ConfigFile

@Suite struct ConfigValueTests {
    private static let sample = """
    instance: vps1
    listen: ["0.0.0.0:443", "[::]:443"]
    limits:
      max_connections: 10_000
      handshake_timeout: 10s
      buffer: 64KiB
    enabled: true
    mode: full
    dcs:
      "2": "149.154.167.51:443"
      -2: "149.154.167.51:443"
    empty:
    """

    private enum Mode: String, CaseIterable { case full, minimized, none }

    private func root(_ yaml: String = sample) throws -> ConfigMapping {
        try ConfigDocument.parse(yaml: yaml, file: "test.yaml")
            .mapping(keys: ["instance", "listen", "limits", "enabled", "mode", "dcs", "empty"])
    }

    @Test func readsEveryKindOfValue() throws {
        let root = try root()
        #expect(try root.required("instance").string() == "vps1")
        #expect(try root.required("listen").list { v throws(ConfigError) in try v.string() } == ["0.0.0.0:443", "[::]:443"])
        let limits = try root.required("limits").mapping(keys: ["max_connections", "handshake_timeout", "buffer"])
        #expect(try limits.required("max_connections").int(in: 1...1_000_000) == 10_000)
        #expect(try limits.required("handshake_timeout").duration() == .seconds(10))
        #expect(try limits.required("buffer").byteSize() == 65_536)
        #expect(try root.required("enabled").bool())
        #expect(try root.required("mode").enum(Mode.self) == .full)
        let dcs = try root.required("dcs").entries()
        #expect(dcs.map(\.key) == ["2", "-2"])
        #expect(dcs[1].value.keyPath == "dcs.-2")
        #expect(dcs[1].value.line == 11)
        #expect(root["empty"] == nil)
        #expect(root.contains("empty"))
        #expect(root["absent"] == nil)
    }

    @Test func unknownKeyNamesFileLineKeyAndSuggestion() throws {
        let yaml = "instance: a\nlimits:\n  max_conections: 5\n"
        let root = try root(yaml)
        let error = #expect(throws: ConfigError.self) {
            try root.required("limits").mapping(keys: ["max_connections", "idle_timeout"])
        }
        #expect(error?.description == "test.yaml:3: limits.max_conections: unknown key (did you mean max_connections?); expected one of idle_timeout, max_connections")
    }

    @Test func unknownTopLevelKey() {
        let error = #expect(throws: ConfigError.self) {
            try ConfigDocument.parse(yaml: "instance: a\nbogus: 1\n", file: "f.yaml").mapping(keys: ["instance"])
        }
        #expect(error?.line == 2)
        #expect(error?.key == "bogus")
    }

    @Test func typeErrorsSayWhatWasFoundAndExpected() throws {
        let yaml = "instance: [a]\nlisten: x\nlimits: {max_connections: ten}\nenabled: yes\nmode: loud\n"
        let root = try root(yaml)
        #expect(throws: ConfigError(file: "test.yaml", line: 1, key: "instance", message: "expected a string, found a list")) {
            try root.required("instance").string()
        }
        #expect(throws: ConfigError(file: "test.yaml", line: 2, key: "listen", message: "expected a list, found a scalar")) {
            try root.required("listen").list()
        }
        let limits = try root.required("limits").mapping(keys: ["max_connections"])
        #expect(throws: ConfigError(file: "test.yaml", line: 3, key: "limits.max_connections", message: "expected an integer, found \"ten\"")) {
            try limits.required("max_connections").int()
        }
        #expect(throws: ConfigError(file: "test.yaml", line: 4, key: "enabled", message: "expected true or false, found \"yes\"")) {
            try root.required("enabled").bool()
        }
        #expect(throws: ConfigError(file: "test.yaml", line: 5, key: "mode", message: "expected one of full, minimized, none, found \"loud\"")) {
            try root.required("mode").enum(Mode.self)
        }
    }

    @Test func rangeErrors() throws {
        let root = try ConfigDocument.parse(yaml: "a: 0\nb: 2d\nc: 2GiB\n", file: "r.yaml").mapping(keys: ["a", "b", "c"])
        #expect(throws: ConfigError(file: "r.yaml", line: 1, key: "a", message: "must be between 1 and 65535, found 0")) {
            try root.required("a").int(in: 1...65535)
        }
        #expect(throws: ConfigError(file: "r.yaml", line: 2, key: "b", message: "must be between 1s and 1d, found 2d")) {
            try root.required("b").duration(in: .seconds(1)...Duration.seconds(86_400))
        }
        #expect(throws: ConfigError(file: "r.yaml", line: 3, key: "c", message: "must be between 0B and 1GiB, found 2GiB")) {
            try root.required("c").byteSize(in: 0...(1 << 30))
        }
    }

    @Test func missingRequiredKeyPointsAtTheMapping() throws {
        let root = try ConfigDocument.parse(yaml: "x:\n  y: 1\n", file: "m.yaml").mapping(keys: ["x"])
        let inner = try root.required("x").mapping(keys: ["y", "z"])
        #expect(throws: ConfigError(file: "m.yaml", line: 2, key: "x.z", message: "required key is missing")) {
            try inner.required("z")
        }
    }

    @Test func listElementsCarryTheirIndex() throws {
        let root = try ConfigDocument.parse(yaml: "secrets:\n  - name: a\n  - name: [b]\n", file: "s.yaml").mapping(keys: ["secrets"])
        let error = #expect(throws: ConfigError.self) {
            try root.required("secrets").list { v throws(ConfigError) in
                try v.mapping(keys: ["name"]).required("name").string()
            }
        }
        #expect(error?.description == "s.yaml:3: secrets[1].name: expected a string, found a list")
    }

    @Test func emptyDocumentIsAnEmptyMapping() throws {
        let root = try ConfigDocument.parse(yaml: "", file: "e.yaml").mapping(keys: ["a"])
        #expect(root["a"] == nil)
        #expect(throws: ConfigError(file: "e.yaml", line: 1, key: "a", message: "required key is missing")) {
            try root.required("a")
        }
    }

    @Test func topLevelListIsNotAMapping() {
        #expect(throws: ConfigError(file: "l.yaml", line: 1, message: "expected a mapping, found a list")) {
            try ConfigDocument.parse(yaml: "- a\n- b\n", file: "l.yaml").mapping(keys: ["a"])
        }
    }

    @Test func duplicateKeysAreAnError() {
        let error = #expect(throws: ConfigError.self) {
            try ConfigDocument.parse(yaml: "a: 1\nb: 2\na: 3\n", file: "d.yaml")
        }
        #expect(error?.key == "a")
        #expect(error?.message.contains("more than once") == true)
    }

    @Test func syntaxErrorsCarryTheLine() {
        let error = #expect(throws: ConfigError.self) {
            try ConfigDocument.parse(yaml: "a: 1\nb: [1, 2\nc: 3\n", file: "y.yaml")
        }
        #expect(error?.file == "y.yaml")
        #expect(error?.line != nil)
        #expect(error?.message.hasPrefix("not valid YAML") == true)
    }

    @Test func deepNestingIsRefusedBeforeParsing() {
        let deep = String(repeating: "[", count: 100_000)
        #expect(throws: ConfigError.self) { try ConfigDocument.parse(yaml: "a: \(deep)", file: "n.yaml") }
        let dashes = String(repeating: "- ", count: 100_000) + "x"
        #expect(throws: ConfigError.self) { try ConfigDocument.parse(yaml: dashes, file: "n.yaml") }
    }

    @Test func aliasBombIsBounded() throws {
        var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1..<9 {
            let previous = "*a\(level - 1)"
            yaml += "a\(level): &a\(level) [\(Array(repeating: previous, count: 10).joined(separator: ", "))]\n"
        }
        let root = try ConfigDocument.parse(yaml: yaml, file: "b.yaml")
        func walk(_ value: ConfigValue) throws(ConfigError) -> Int {
            if (try? value.string()) != nil { return 1 }
            var total = 0
            for element in try value.list() { total += try walk(element) }
            return total
        }
        let entries = try root.entries()
        #expect(throws: ConfigError.self) { try walk(entries[8].value) }
    }

    @Test func missingFileSaysWhy() {
        let error = #expect(throws: ConfigError.self) { try ConfigDocument.load(path: "/nonexistent/mtshield.yaml") }
        #expect(error?.description == "/nonexistent/mtshield.yaml: cannot open: No such file or directory")
    }
}
