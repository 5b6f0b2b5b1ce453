import ConfigFile
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Small reads of system files (under `CheckContext.root`) the checks share.
enum SystemFiles {
    /// The file's text, at most `limit` bytes; nil when it cannot be read.
    static func text(_ path: String, limit: Int = 1 << 20) -> String? {
        guard let bytes = try? ConfigDocument.readBytes(path: path, maximumBytes: limit) else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func status(_ path: String) -> stat? {
        var info = stat()
        return stat(path, &info) == 0 ? info : nil
    }

    static func linkStatus(_ path: String) -> stat? {
        var info = stat()
        return lstat(path, &info) == 0 ? info : nil
    }

    static func exists(_ path: String) -> Bool { status(path) != nil }

    static func modificationDate(_ info: stat) -> Date {
        Date(timeIntervalSince1970: Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9)
    }

    static func octal(_ mode: mode_t) -> String {
        "0" + String(mode & 0o7777, radix: 8)
    }

    static func directoryEntries(_ path: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
    }
}

/// An entry of /etc/passwd.
struct PasswdEntry {
    var name: String
    var uid: UInt32
    var shell: String

    static func all(in context: CheckContext) -> [PasswdEntry]? {
        guard let text = SystemFiles.text(context.systemPath("/etc/passwd")) else { return nil }
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count >= 7, let uid = UInt32(fields[2]) else { return nil }
            return PasswdEntry(name: String(fields[0]), uid: uid, shell: String(fields[6]))
        }
    }

    var hasLoginShell: Bool {
        !(shell.hasSuffix("/nologin") || shell.hasSuffix("/false") || shell.isEmpty)
    }
}

/// A process found under /proc, with what its status file says.
struct ProcessFacts {
    var pid: Int
    var effectiveUID: UInt32?
    var noNewPrivileges: Bool?
    var boundingCapabilities: UInt64?
    var effectiveCapabilities: UInt64?

    /// The processes whose command name is `name`, lowest pid first.
    static func find(named name: String, in context: CheckContext) -> [ProcessFacts] {
        let proc = context.systemPath("/proc")
        var found: [ProcessFacts] = []
        for entry in SystemFiles.directoryEntries(proc) {
            guard let pid = Int(entry) else { continue }
            guard let comm = SystemFiles.text("\(proc)/\(entry)/comm", limit: 64),
                  comm.trimmingASCIIWhitespace == name else { continue }
            if let facts = read(directory: "\(proc)/\(entry)", pid: pid) { found.append(facts) }
        }
        return found.sorted { $0.pid < $1.pid }
    }

    /// The process running the checks (`/proc/self`).
    static func current(in context: CheckContext) -> ProcessFacts? {
        read(directory: context.systemPath("/proc/self"), pid: Int(getpid()))
    }

    static func read(directory: String, pid: Int) -> ProcessFacts? {
        guard let status = SystemFiles.text(directory + "/status", limit: 64 * 1024) else { return nil }
        var facts = ProcessFacts(pid: pid)
        for line in status.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == ":" || $0 == "\t" || $0 == " " })
            guard let key = parts.first else { continue }
            switch key {
            case "Uid" where parts.count >= 3: facts.effectiveUID = UInt32(parts[2])
            case "NoNewPrivs" where parts.count >= 2: facts.noNewPrivileges = parts[1] == "1"
            case "CapBnd" where parts.count >= 2: facts.boundingCapabilities = UInt64(parts[1], radix: 16)
            case "CapEff" where parts.count >= 2: facts.effectiveCapabilities = UInt64(parts[1], radix: 16)
            default: continue
            }
        }
        return facts
    }
}
