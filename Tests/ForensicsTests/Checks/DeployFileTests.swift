import Foundation
import Testing
import Yams
@testable import Forensics

/// The files under deploy/: each checked by the real checker where one exists here
/// (systemd-analyze, logrotate, YAML), and for the settings the security guide asks for.
@Suite struct DeployFileTests {
    // MARK: systemd

    /// `[Section]` → key → values, in file order (a key may repeat).
    static func unitDirectives(_ text: String) -> [String: [String]] {
        var directives: [String: [String]] = [:]
        for line in text.split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.hasPrefix("#"), !trimmed.hasPrefix("["), let equals = trimmed.firstIndex(of: "=") else { continue }
            directives[String(trimmed[..<equals]), default: []].append(String(trimmed[trimmed.index(after: equals)...]))
        }
        return directives
    }

    @Test func proxyUnitHasTheHardeningTheGuideAsksFor() throws {
        let unit = Self.unitDirectives(try DeployFiles.text("mtproxy.service"))
        let expected: [String: String] = [
            "User": "mtproxy", "Group": "mtshield", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
            "ProtectHome": "yes", "PrivateTmp": "yes", "PrivateDevices": "yes", "Restart": "on-failure",
            "CapabilityBoundingSet": "CAP_NET_BIND_SERVICE", "AmbientCapabilities": "CAP_NET_BIND_SERVICE",
            "MemoryMax": "512M", "ReadWritePaths": "/var/log/mtshield", "RestrictSUIDSGID": "yes",
            "ExecStart": "/usr/local/bin/mtproxy run --config /etc/mtshield/mtproxy.yaml",
        ]
        for (key, value) in expected {
            #expect(unit[key] == [value], "\(key)")
        }
        #expect(unit["SystemCallFilter"]?.contains("@system-service") == true)
    }

    @Test func unitsPassSystemdAnalyzeVerify() throws {
        let analyze = try #require(CommandRunner.locate("systemd-analyze"), "systemd-analyze is on this machine; it must run")
        let mtproxy = ArtifactCatalogTests.packageRoot + "/.build/debug/mtproxy"
        try #require(FileManager.default.isExecutableFile(atPath: mtproxy), "build the mtproxy product first")
        let folder = try TemporaryDirectory()
        let units = try FileManager.default.contentsOfDirectory(atPath: DeployFiles.packageRoot + "/deploy").filter { $0.hasSuffix(".service") }
        #expect(units.contains("mtproxy.service"))
        for name in units {
            // verify wants the binaries to exist: point ExecStart at the built ones.
            var text = try DeployFiles.text(name)
            for program in ["mtproxy", "mtauditor", "mtforensics"] {
                text = text.replacingOccurrences(of: "/usr/local/bin/\(program)", with: ArtifactCatalogTests.packageRoot + "/.build/debug/\(program)")
            }
            let copy = try folder.write(name, text)
            let result = try run([analyze, "verify", copy])
            #expect(result.status == 0 && result.error.isEmpty && result.text.isEmpty, "\(name): \(result.error)\(result.text)")
        }
        // The checker is not blind: a misspelt directive is reported.
        let broken = try folder.write("broken.service", try DeployFiles.text("mtproxy.service")
            .replacingOccurrences(of: "/usr/local/bin/mtproxy", with: mtproxy)
            .replacingOccurrences(of: "ProtectSystem=strict", with: "ProtectSystems=strict"))
        let result = try run([analyze, "verify", broken])
        #expect(result.error.contains("Unknown key"))
    }

    // MARK: logrotate

    @Test func logrotateFileRotatesDailyKeepsSevenCompressedAsTheServiceUser() throws {
        let text = try DeployFiles.text("logrotate/mtshield")
        let rules = LogrotateRule.parse(text)
        #expect(rules.count == 1)
        let rule = try #require(rules.first)
        #expect(rule.patterns == ["/var/log/mtshield/*.jsonl"])
        #expect(rule.frequency == "daily")
        #expect(rule.keep == 7)
        #expect(rule.compress)
        #expect(text.contains("\n    create 0640 mtproxy mtshield\n"))
        #expect(text.contains("\n    su mtproxy mtshield\n"))
        #expect(rule.covers("/var/log/mtshield/events.jsonl"))
    }

    /// logrotate itself rotates a copy twice (users changed to root: the service users do
    /// not exist here): the first rotation keeps the file plain (delaycompress) and creates
    /// a fresh one with the right mode, the second compresses it.
    @Test func logrotateRunsTheFile() throws {
        let logrotate = try #require(CommandRunner.locate("logrotate"), "logrotate missing: make test installs it")
        let folder = try TemporaryDirectory()
        chmod(folder.path, 0o755)
        let events = try folder.write("log/events.jsonl", "{\"event\":1}\n")
        chmod(folder.file("log"), 0o755)
        let configuration = try folder.write("logrotate.conf", try DeployFiles.text("logrotate/mtshield")
            .replacingOccurrences(of: "/var/log/mtshield/", with: folder.file("log/"))
            .replacingOccurrences(of: "mtproxy mtshield", with: "root root"))
        let first = try run([logrotate, "--force", "--state", folder.file("state"), configuration])
        #expect(first.status == 0, "\(first.error)")
        #expect(try String(contentsOfFile: events + ".1", encoding: .utf8) == "{\"event\":1}\n")
        let fresh = try #require(SystemFiles.status(events))
        #expect(fresh.st_size == 0)
        #expect(fresh.st_mode & 0o777 == 0o640)
        try Data("{\"event\":2}\n".utf8).write(to: URL(fileURLWithPath: events))
        let second = try run([logrotate, "--force", "--state", folder.file("state"), configuration])
        #expect(second.status == 0, "\(second.error)")
        #expect(FileManager.default.fileExists(atPath: events + ".2.gz"))
        #expect(FileManager.default.fileExists(atPath: events + ".1"))
    }

    // MARK: consistency

    @Test func theFilesAgreeWithEachOtherAndTheExampleConfiguration() throws {
        let example = try ProxyFacts(path: DeployFiles.path("mtproxy.example.yaml"))
        let unit = Self.unitDirectives(try DeployFiles.text("mtproxy.service"))
        let rule = try #require(LogrotateRule.parse(try DeployFiles.text("logrotate/mtshield")).first)
        let events = try #require(example.eventsPath)
        #expect(rule.covers(events))
        #expect(unit["ReadWritePaths"]?.contains { events.hasPrefix($0 + "/") } == true)
        #expect(unit["User"] == [example.user ?? ""])
        let nftables = try DeployFiles.text("nftables.conf")
        #expect(nftables.contains("define PROXY_PORTS = { \(example.listenPorts.map(String.init).joined(separator: ", ")) }"))
        #expect(nftables.contains("define STATS_PORT = \(try #require(HostPort(example.statsListen ?? "")).port)"))
        let tmpfiles = try DeployFiles.text("tmpfiles.d/mtshield.conf")
        #expect(tmpfiles.contains("/var/log/mtshield   0750 mtproxy mtshield"))
        let sysusers = try DeployFiles.text("sysusers.d/mtshield.conf")
        #expect(sysusers.contains("u mtproxy   -:mtshield"))
        // Every unit's user is created, in the group that shares the events and the blocklist.
        for name in ["mtproxy.service", "mtauditor.service"] {
            let directives = Self.unitDirectives(try DeployFiles.text(name))
            let user = try #require(directives["User"]?.first, "\(name): User=")
            #expect(directives["Group"] == ["mtshield"], "\(name)")
            #expect(sysusers.split(separator: "\n").contains { $0.split(separator: " ").prefix(2) == ["u", Substring(user)] }, "\(name): \(user)")
        }
    }

    // MARK: containers

    static func composeService() throws -> [String: Any] {
        let document = try #require(try Yams.load(yaml: try DeployFiles.text("compose.yaml")) as? [String: Any])
        let services = try #require(document["services"] as? [String: Any])
        return try #require(services["mtproxy"] as? [String: Any])
    }

    @Test func composeHasTheGuidesSettings() throws {
        let document = try #require(try Yams.load(yaml: try DeployFiles.text("compose.yaml")) as? [String: Any])
        let service = try Self.composeService()
        #expect(service["read_only"] as? Bool == true)
        #expect(service["security_opt"] as? [String] == ["no-new-privileges:true"])
        #expect(service["cap_drop"] as? [String] == ["ALL"])
        let tmpfs = try #require(service["tmpfs"] as? [String])
        #expect(tmpfs.contains { $0.hasPrefix("/tmp:") && $0.contains("noexec") && $0.contains("nosuid") })
        let user = try #require(service["user"] as? String)
        #expect(!user.hasPrefix("0") && !user.hasPrefix("root"))
        let limits = try #require(((service["deploy"] as? [String: Any])?["resources"] as? [String: Any])?["limits"] as? [String: Any])
        #expect(limits["memory"] as? String == "512M")
        #expect(limits["cpus"] as? String == "1.0")
        let healthcheck = try #require(service["healthcheck"] as? [String: Any])
        #expect((healthcheck["test"] as? [String])?.first == "CMD")
        #expect((service["build"] as? [String: Any])?["dockerfile"] as? String == "deploy/Dockerfile")
        // Every named volume a service mounts is declared.
        let declared = Set(((document["volumes"] as? [String: Any]) ?? [:]).keys)
        for volume in (service["volumes"] as? [String]) ?? [] where !volume.hasPrefix(".") && !volume.hasPrefix("/") {
            #expect(declared.contains(String(volume.prefix { $0 != ":" })))
        }
    }

    /// The healthcheck's shell line, run against a stats endpoint that answers 200 and
    /// one that answers 404 (the port swapped for the test server's).
    @Test func healthcheckSucceedsOnlyOn200() throws {
        let service = try Self.composeService()
        let command = try #require((service["healthcheck"] as? [String: Any])?["test"] as? [String])
        #expect(Array(command.prefix(3)) == ["CMD", "bash", "-c"])
        let line = command[3]
        #expect(line.contains("/dev/tcp/127.0.0.1/3001"))
        let good = try OneAnswerServer(response: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        let bad = try OneAnswerServer(response: "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        #expect(try run(["bash", "-c", line.replacingOccurrences(of: "/3001", with: "/\(good.port)")]).status == 0)
        #expect(try run(["bash", "-c", line.replacingOccurrences(of: "/3001", with: "/\(bad.port)")]).status != 0)
        #expect(good.requests.first?.hasPrefix("GET /stats HTTP/1.0") == true)
        // The image's HEALTHCHECK is the same line.
        let dockerfile = try DeployFiles.text("Dockerfile").replacingOccurrences(of: "\\\\", with: "\\")
        #expect(dockerfile.contains(line))
    }

    /// Dockerfile instructions with continuation lines joined.
    static func dockerInstructions() throws -> [(keyword: String, arguments: String)] {
        var instructions: [(String, String)] = []
        var pending = ""
        for line in try DeployFiles.text("Dockerfile").split(separator: "\n") {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("#") || trimmed.isEmpty { continue }
            if trimmed.hasSuffix("\\") { pending += trimmed.dropLast() + " "; continue }
            let whole = pending + trimmed
            pending = ""
            let keyword = String(whole.prefix { $0 != " " })
            instructions.append((keyword.uppercased(), String(whole.dropFirst(keyword.count)).trimmingCharacters(in: .whitespaces)))
        }
        return instructions
    }

    @Test func dockerfileBuildsInOneStageAndRunsUnprivilegedInAnother() throws {
        let instructions = try Self.dockerInstructions()
        let stages = instructions.indices.filter { instructions[$0].keyword == "FROM" }
        #expect(stages.count == 2)
        #expect(instructions[stages[0]].arguments.hasSuffix("AS build"))
        let runtime = Array(instructions[stages.last!...])
        let users = runtime.filter { $0.keyword == "USER" }.map(\.arguments)
        #expect(users.count == 1)
        let user = try #require(users.first)
        #expect(!["root", "0", "0:0"].contains(user) && !user.hasPrefix("0:") && !user.hasPrefix("root:"))
        // Nothing runs as root after USER, and the program starts in exec form.
        let userIndex = try #require(runtime.firstIndex { $0.keyword == "USER" })
        #expect(!runtime[userIndex...].contains { $0.keyword == "RUN" })
        #expect(runtime.contains { $0.keyword == "COPY" && $0.arguments.hasPrefix("--from=build ") })
        #expect(runtime.contains { $0.keyword == "ENTRYPOINT" && $0.arguments.hasPrefix("[\"/usr/local/bin/mtproxy\"") })
        #expect(runtime.contains { $0.keyword == "HEALTHCHECK" })
        #expect(!instructions.contains { $0.keyword == "ADD" })
        #expect(instructions.contains { $0.keyword == "ARG" && $0.arguments.hasPrefix("RUNTIME_IMAGE=") && $0.arguments.hasSuffix("-slim") })
        for install in instructions where install.keyword == "RUN" && install.arguments.contains("apt-get install") {
            #expect(install.arguments.contains("--no-install-recommends") && install.arguments.contains("rm -rf /var/lib/apt/lists/*"))
        }
        #expect(runtime.filter { $0.keyword == "EXPOSE" }.map(\.arguments) == ["8443"])
        // The build stage installs what `make deps` installs.
        let build = instructions[stages[0]..<stages[1]].map(\.arguments).joined(separator: " ")
        for package in ["libssl-dev", "zlib1g-dev", "liblz4-dev"] { #expect(build.contains(package)) }
        #expect(build.contains("--static-swift-stdlib"))
    }

    /// No secret reaches the image: nothing copied but the sources (and the ignore file
    /// beside the Dockerfile keeps everything else out of the build context), no ARG or ENV
    /// carrying a key, no key-shaped hex; the configuration is mounted read-only at run time.
    @Test func noSecretIsBakedIntoTheImage() throws {
        let instructions = try Self.dockerInstructions()
        let copied = instructions.filter { $0.keyword == "COPY" && !$0.arguments.hasPrefix("--from=") }
            .flatMap { $0.arguments.split(separator: " ").dropLast().map(String.init) }
        #expect(Set(copied) == ["Package.swift", "Sources", "Tests"])
        for instruction in instructions where ["ARG", "ENV", "LABEL"].contains(instruction.keyword) {
            let text = instruction.arguments.lowercased()
            for word in ["secret", "key", "token", "password"] { #expect(!text.contains(word), "\(instruction.keyword) \(instruction.arguments)") }
        }
        let hexRun = try Regex("[0-9a-fA-F]{32,}")
        for name in ["Dockerfile", "compose.yaml", "Dockerfile.dockerignore"] {
            #expect(try DeployFiles.text(name).firstMatch(of: hexRun) == nil, "\(name) holds a key-shaped hex string")
        }

        // BuildKit's ignore file for this Dockerfile: everything out, then exactly what is copied back in.
        let ignore = try DeployFiles.text("Dockerfile.dockerignore").split(separator: "\n")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && !$0.hasPrefix("#") }
        #expect(ignore.first == "*")
        #expect(Set(ignore.dropFirst()) == Set(copied.map { "!" + $0 }))

        let service = try Self.composeService()
        #expect(service["environment"] == nil && service["env_file"] == nil, "secrets come from the mounted file, not the environment")
        let volumes = (service["volumes"] as? [String]) ?? []
        let config = try #require(volumes.first { $0.contains(":/etc/mtshield/mtproxy.yaml") })
        #expect(config.hasSuffix(":ro"))
        #expect(service["privileged"] == nil && service["cap_add"] == nil && service["network_mode"] == nil && service["pid"] == nil)
        // The container port is the one the image exposes and the healthcheck's stats port stays inside.
        #expect((service["ports"] as? [String])?.allSatisfy { $0.hasSuffix(":8443") && !$0.contains("3001") } == true)
    }
}
