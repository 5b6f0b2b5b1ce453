import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension SecurityChecklist {
    static let rotationFix = "install -m 0644 deploy/logrotate/mtshield /etc/logrotate.d/mtshield (edit its path if events.path is elsewhere)"

    /// `events.path` names a file that exists and that other users cannot read.
    static func loggingEnabled(_ inputs: CheckInputs) -> Finding {
        inputs.withProxy { facts in
            guard let path = facts.eventsPath else {
                return .fail("events.path is null: the proxy writes no events", fix: "set events.path: /var/log/mtshield/events.jsonl")
            }
            if path == "-" {
                return .pass("events go to standard output (the journal or the container's log)")
            }
            guard let info = SystemFiles.status(path) else {
                return .fail("the event log \(path) does not exist (is mtproxy running, can it write there?)",
                             fix: "create the directory for the service user (deploy/tmpfiles.d/mtshield.conf) and start mtproxy")
            }
            if info.st_mode & 0o007 != 0 {
                return .fail("the event log \(path) is readable by every user (mode \(SystemFiles.octal(info.st_mode))); it holds client addresses",
                             fix: "chmod 0640 \(path); keep `create 0640` in the logrotate file")
            }
            let directory = (path as NSString).deletingLastPathComponent
            if let folder = SystemFiles.status(directory), folder.st_mode & 0o002 != 0 {
                return .fail("the directory \(directory) is writable by every user", fix: "chmod 0750 \(directory)")
            }
            return .pass("events are written to \(path) (mode \(SystemFiles.octal(info.st_mode)))")
        }
    }

    /// A logrotate rule under /etc/logrotate.d (or logrotate.conf) covers `events.path` and
    /// keeps a bounded number of files; logrotate is installed.
    static func logRotation(_ inputs: CheckInputs) -> Finding {
        inputs.withProxy { facts in
            guard let path = facts.eventsPath else {
                return .unknown("events are off: there is nothing to rotate", fix: "set events.path: /var/log/mtshield/events.jsonl")
            }
            guard path != "-" else {
                return .unknown("events go to standard output: their rotation is the journal's or the container runtime's",
                                fix: "write events to a file and " + rotationFix)
            }
            let context = inputs.context
            var files = [context.systemPath("/etc/logrotate.conf")]
            let directory = context.systemPath("/etc/logrotate.d")
            files += SystemFiles.directoryEntries(directory).filter { !$0.hasPrefix(".") && !$0.hasSuffix("~") }.map { directory + "/" + $0 }
            var matched: (file: String, rule: LogrotateRule)?
            for file in files {
                guard let text = SystemFiles.text(file) else { continue }
                if let rule = LogrotateRule.parse(text).last(where: { $0.covers(path) }) {
                    matched = (file, rule)
                }
            }
            guard let (file, rule) = matched else {
                return .fail("no logrotate rule covers \(path)", fix: rotationFix)
            }
            var parts: [Finding] = []
            if rule.keep == nil || rule.keep == 0 {
                parts.append(.fail("\(file) rotates \(path) without keeping a bounded number (`rotate N`)", fix: rotationFix))
            }
            if rule.frequency == nil {
                parts.append(.fail("\(file) sets no frequency or size for \(path)", fix: rotationFix))
            }
            let installed = ["/usr/sbin/logrotate", "/usr/bin/logrotate"].contains { SystemFiles.exists(context.systemPath($0)) }
            if !installed {
                parts.append(.fail("logrotate is not installed", fix: "apt-get install logrotate"))
            }
            let summary = "\(file) rotates \(path) \(rule.frequency ?? "?"), keeps \(rule.keep.map(String.init) ?? "?")\(rule.compress ? ", compressed" : "")"
            return Finding.combine(parts.isEmpty ? [.pass(summary)] : parts, passDetail: summary)
        }
    }
}

/// One block of a logrotate file: the paths (globs) it covers and the directives the
/// check reads.
struct LogrotateRule {
    var patterns: [String]
    var frequency: String?
    var keep: Int?
    var compress = false

    func covers(_ path: String) -> Bool {
        patterns.contains { fnmatch($0, path, FNM_PATHNAME) == 0 }
    }

    static let frequencies: Set<String> = ["hourly", "daily", "weekly", "monthly", "yearly", "size", "maxsize"]

    /// The blocks of a logrotate file; directives outside blocks are the defaults of the
    /// blocks after them.
    static func parse(_ text: String) -> [LogrotateRule] {
        var rules: [LogrotateRule] = []
        var defaults = LogrotateRule(patterns: [])
        var current: LogrotateRule?
        var header: [String] = []
        var inScript = false
        for rawLine in text.split(separator: "\n") {
            let line = String(rawLine).trimmingASCIIWhitespace
            if line.isEmpty || line.hasPrefix("#") { continue }
            let words = Self.words(line)
            if inScript {
                if words.first == "endscript" { inScript = false }
                continue
            }
            if current == nil {
                let paths = Self.words(String(line.prefix { $0 != "{" }))
                if line.contains("{") {
                    var rule = defaults
                    rule.patterns = (header + paths).map { $0.trimming("\"'") }
                    current = rule
                    header = []
                } else if let first = words.first, first.hasPrefix("/") || first.hasPrefix("\"") {
                    header += paths
                } else {
                    defaults.apply(words)
                }
                continue
            }
            if words.first == "}" {
                if let rule = current { rules.append(rule) }
                current = nil
                continue
            }
            if ["postrotate", "prerotate", "firstaction", "lastaction", "preremove"].contains(words.first ?? "") {
                inScript = true
            } else {
                current?.apply(words)
            }
        }
        return rules
    }

    static func words(_ line: String) -> [String] {
        line.split(whereSeparator: { (character: Character) -> Bool in character == " " || character == "\t" }).map(String.init)
    }

    mutating func apply(_ words: [String]) {
        guard let keyword = words.first else { return }
        switch keyword {
        case "rotate":
            keep = words.count > 1 ? Int(words[1]) : nil
        case "compress":
            compress = true
        case "nocompress":
            compress = false
        case _ where Self.frequencies.contains(keyword):
            frequency = keyword
        default:
            break
        }
    }
}
