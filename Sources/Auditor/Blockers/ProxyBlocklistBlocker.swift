#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NIOPosix

/// The `proxy` blocker: the proxy's blocklist file (its `blocklist:` key), one address,
/// network or `ip_hash` a line, which mtproxy picks up live through inotify.
///
/// The auditor owns the file: every change rewrites it whole from the decisions in force,
/// into a temporary file beside it that is synced and then renamed over it, so the proxy
/// never reads half a file. Entries past their `until` are left out at every write.
public actor ProxyBlocklistBlocker: Blocker {
    public nonisolated let name = "proxy"
    public nonisolated let path: String
    /// value → until
    private var entries: [String: Int64] = [:]

    public init(path: String) {
        self.path = path
    }

    /// The values the file holds now.
    public var values: [String] { entries.keys.sorted() }

    public func synchronize(active: [Decision], now: Int64) async throws(AuditorError) {
        entries = [:]
        for decision in active where decision.until > now { entries[decision.value] = max(entries[decision.value] ?? 0, decision.until) }
        try await write(now: now)
    }

    public func apply(added: [Decision], removed: [Decision], now: Int64) async throws(AuditorError) {
        for decision in removed { entries.removeValue(forKey: decision.value) }
        for decision in added where decision.until > now { entries[decision.value] = decision.until }
        try await write(now: now)
    }

    private func write(now: Int64) async throws(AuditorError) {
        entries = entries.filter { $0.value > now }
        var text = "# Written by mtauditor; edits are overwritten. Ban and unban with `mtauditor decisions add|delete`.\n"
        for value in entries.keys.sorted() { text += value + "\n" }
        let bytes = Array(text.utf8)
        let path = self.path
        do {
            // fsync can take long on a busy disk: on a thread of its own, not the task's, and in
            // order (one thread), so an older version never lands after a newer one.
            try await ChildProcess.orderedWrites.runIfActive { try AtomicFile.replace(path, with: bytes) }
        } catch let error as AtomicFile.Failure {
            throw AuditorError.blocker(name: name, message: "\(path): \(error.message)")
        } catch {
            throw AuditorError.blocker(name: name, message: "\(path): \(error)")
        }
    }
}

/// Replaces a file whole: a temporary file in the same directory, written, synced, renamed
/// over the target, and the directory synced, so a reader sees the old or the new file.
enum AtomicFile {
    struct Failure: Error {
        var message: String
    }

    static func replace(_ path: String, with bytes: [UInt8], mode: mode_t = 0o644) throws(Failure) {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let temporary = "\(directory)/.\(name).tmp-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw Failure(message: "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                close(descriptor)
                unlink(temporary)
                throw Failure(message: "cannot write \(temporary): \(reason)")
            }
            offset += count
        }
        if fsync(descriptor) != 0 {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            unlink(temporary)
            throw Failure(message: "cannot sync \(temporary): \(reason)")
        }
        close(descriptor)
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw Failure(message: "cannot rename \(temporary) to \(path): \(reason)")
        }
        let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }
}
