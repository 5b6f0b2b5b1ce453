#if canImport(Glibc)
import Glibc
#endif
import ConfigFile
import EventLog
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Keeps a `BlocklistStore` in step with its file without a restart: the auditor (or an
/// operator) rewrites the file, and within 100 ms the new version is in force.
///
/// inotify watches the parent directory, so an atomic rename-replace and an in-place
/// write are both seen; a stat comparison every `pollInterval` catches what inotify
/// cannot (no inotify, a missing directory, a symlink swapped elsewhere). The blocking
/// wait runs on its own thread, never on the cooperative pool.
public final class BlocklistWatcher: Service, Sendable {
    /// What one reload found; also the labels of its `blocklist.reloaded` event.
    public struct Reload: Sendable, Hashable {
        public var counts = Blocklist.Counts()
        /// Lines refused and skipped.
        public var badLines = 0
        /// The file does not exist; the list is empty until it does.
        public var missing = false
        /// The file could not be read; the previous version stays in force.
        public var failure: String?
    }

    private struct State {
        var path: String?
        var signature: FileSignature?
    }

    private let store: BlocklistStore
    private let events: any EventSink
    private let instance: String
    private let logger: Logger
    private let now: @Sendable () -> Int64
    private let pollMilliseconds: Int32
    private let state: Mutex<State>
    /// Serializes reloads so that an older read never replaces a newer one.
    private let reloading = Mutex(())
    /// A pipe written to stop the watch thread or to make it re-watch after a path change.
    private let wake: (read: Int32, write: Int32)

    /// Bad lines logged one by one per reload; the rest are counted.
    static let loggedBadLines = 20

    public init(path: String?, store: BlocklistStore, events: any EventSink, instance: String,
                logger: Logger, now: @escaping @Sendable () -> Int64, pollInterval: Duration = .milliseconds(50)) {
        self.store = store
        self.events = events
        self.instance = instance
        self.logger = logger
        self.now = now
        self.pollMilliseconds = Int32(max(1, min(60_000, ConfigText.milliseconds(pollInterval))))
        self.state = Mutex(State(path: path, signature: nil))
        var ends: [Int32] = [-1, -1]
        if pipe(&ends) == 0 {
            for end in ends {
                _ = fcntl(end, F_SETFL, fcntl(end, F_GETFL) | O_NONBLOCK)
                _ = fcntl(end, F_SETFD, FD_CLOEXEC)
            }
        }
        self.wake = (ends[0], ends[1])
    }

    deinit {
        if wake.read >= 0 { close(wake.read) }
        if wake.write >= 0 { close(wake.write) }
    }

    public var path: String? { state.withLock { $0.path } }

    /// Switches to another file (or none) and loads it now; for a configuration reload.
    @discardableResult
    public func update(path: String?) -> Reload {
        let changed = state.withLock { state -> Bool in
            guard state.path != path else { return false }
            state.path = path
            state.signature = nil
            return true
        }
        if changed { signalWake() }
        return reload()
    }

    /// Reads the file now and puts it in force, whether or not it changed; emits
    /// `blocklist.reloaded`. A missing file is an empty list; an unreadable one leaves the
    /// previous version in force.
    @discardableResult
    public func reload() -> Reload {
        reloading.withLock { _ in
            let path = state.withLock { $0.path }
            guard let path else {
                store.replace(with: .empty)
                return Reload()
            }
            let signature = FileSignature(path: path)
            let missing = signature == nil && errno == ENOENT
            state.withLock { $0.signature = signature }
            var outcome = Reload()
            if missing {
                outcome.missing = true
                store.replace(with: .empty)
                logger.warning("blocklist file does not exist; nothing is blocked until it does", metadata: ["file": "\(path)"])
            } else {
                do throws(ConfigError) {
                    let bytes = try ConfigDocument.readBytes(path: path, maximumBytes: Blocklist.maximumFileBytes)
                    let (blocklist, errors) = Blocklist.parse(bytes, file: path)
                    store.replace(with: blocklist)
                    outcome.counts = blocklist.counts
                    outcome.badLines = errors.count
                    for error in errors.prefix(Self.loggedBadLines) {
                        logger.warning("blocklist line skipped", metadata: ["problem": "\(error)"])
                    }
                    if errors.count > Self.loggedBadLines {
                        logger.warning("more blocklist lines skipped", metadata: ["file": "\(path)", "count": "\(errors.count - Self.loggedBadLines)"])
                    }
                } catch {
                    outcome.failure = error.message
                    logger.error("blocklist not reloaded; the previous version stays in force", metadata: ["problem": "\(error)"])
                }
            }
            emit(outcome)
            return outcome
        }
    }

    private func emit(_ outcome: Reload) {
        var labels = [
            "addresses": "\(outcome.counts.addresses)",
            "networks": "\(outcome.counts.networks)",
            "hashes": "\(outcome.counts.hashes)",
            "bad_lines": "\(outcome.badLines)",
        ]
        if outcome.missing { labels["missing"] = "true" }
        if let failure = outcome.failure { labels["error"] = failure }
        events.emit(Event(
            timestampMilliseconds: now(),
            action: .blocklistReloaded,
            outcome: outcome.failure == nil ? .success : .failure,
            instance: instance,
            message: outcome.failure == nil ? "blocklist reloaded" : "blocklist could not be read",
            labels: labels))
    }

    // MARK: Watching

    /// Watches until cancelled or asked to shut down gracefully. Does not load first:
    /// call `reload()` before accepting connections.
    public func run() async throws {
        await withTaskCancellationOrGracefulShutdownHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let thread = Thread { [self] in
                    watchLoop()
                    continuation.resume()
                }
                thread.name = "blocklist-watch"
                thread.start()
            }
        } onCancelOrGracefulShutdown: { [self] in
            stopRequested.withLock { $0 = true }
            signalWake()
        }
    }

    private let stopRequested = Mutex(false)

    private func signalWake() {
        var one: UInt8 = 1
        _ = write(wake.write, &one, 1)
    }

    private func watchLoop() {
        let inotify = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        if inotify < 0 {
            logger.warning("inotify unavailable; polling the blocklist file", metadata: ["error": "\(String(cString: strerror(errno)))"])
        }
        defer { if inotify >= 0 { close(inotify) } }
        var watch = DirectoryWatch(descriptor: inotify)
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var touched = false
        while !stopRequested.withLock({ $0 }) {
            let path = state.withLock { $0.path }
            watch.follow(path: path)
            // Checked before every wait, so a change made while the watch was being set
            // up is not left for the next event.
            if let path, touched || FileSignature(path: path) != state.withLock({ $0.signature }) {
                reload()
            }
            touched = false
            var descriptors = [pollfd(fd: wake.read, events: Int16(POLLIN), revents: 0)]
            if watch.isActive { descriptors.append(pollfd(fd: inotify, events: Int16(POLLIN), revents: 0)) }
            // With a live watch the stat check only backs it up; without one it is the watch.
            let timeout = watch.isActive ? max(pollMilliseconds, 1_000) : pollMilliseconds
            let ready = poll(&descriptors, nfds_t(descriptors.count), timeout)
            if ready < 0 && errno != EINTR { usleep(UInt32(pollMilliseconds) * 1_000) }
            if descriptors[0].revents & Int16(POLLIN) != 0 {
                var drained = [UInt8](repeating: 0, count: 64)
                _ = read(wake.read, &drained, drained.count)
            }
            if descriptors.count > 1, descriptors[1].revents & Int16(POLLIN) != 0 {
                touched = watch.drain(into: &buffer)
                // Let a writer finish: keep draining until the directory is quiet for 10 ms.
                // A rename onto the file is a finished atomic replace (the auditor's way): no wait.
                var rounds = watch.replaced ? 5 : 0
                while rounds < 5 {
                    var quiet = [pollfd(fd: inotify, events: Int16(POLLIN), revents: 0)]
                    guard poll(&quiet, 1, 10) > 0 else { break }
                    touched = watch.drain(into: &buffer) || touched
                    rounds += 1
                }
            }
        }
    }
}

/// What identifies one version of a file without reading it.
struct FileSignature: Hashable {
    var device: UInt64
    var inode: UInt64
    var size: Int64
    var modified: Int64
    var changed: Int64

    /// nil when the file cannot be stat'ed (`errno` says why).
    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        changed = Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec)
    }
}

/// An inotify watch on the directory holding the blocklist, reporting whether events
/// named the file itself.
struct DirectoryWatch {
    let descriptor: Int32
    private var watched: (directory: String, name: String, id: Int32)?
    private var retryAfter: ContinuousClock.Instant?
    /// The last `drain` saw a file renamed onto the watched name, and no write to it after.
    private(set) var replaced = false

    init(descriptor: Int32) {
        self.descriptor = descriptor
    }

    var isActive: Bool { watched != nil }

    /// Watches the parent directory of `path`; retries each second while it is missing.
    mutating func follow(path: String?) {
        guard descriptor >= 0 else { return }
        let target = path.map(Self.split)
        if let watched, let target, watched.directory == target.directory {
            self.watched?.name = target.name
            return
        }
        if let watched {
            inotify_rm_watch(descriptor, watched.id)
            self.watched = nil
        }
        guard let target else { return }
        if let retryAfter, ContinuousClock.now < retryAfter { return }
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_MODIFY | IN_ATTRIB
            | IN_DELETE_SELF | IN_MOVE_SELF)
        let id = inotify_add_watch(descriptor, target.directory, mask)
        if id >= 0 {
            watched = (target.directory, target.name, id)
            retryAfter = nil
        } else {
            retryAfter = ContinuousClock.now + .seconds(1)
        }
    }

    /// Reads pending events; true when one named the file or the directory went away.
    mutating func drain(into buffer: inout [UInt8]) -> Bool {
        var touched = false
        replaced = false
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            var offset = 0
            // struct inotify_event: wd, mask, cookie, len (4 bytes each), then len name bytes.
            while offset + 16 <= count {
                let mask = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self) }
                let length = Int(buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self) })
                let nameBytes = buffer[(offset + 16)..<min(count, offset + 16 + length)]
                let name = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
                if mask & UInt32(IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_Q_OVERFLOW) != 0 {
                    touched = true
                    if mask & UInt32(IN_IGNORED | IN_DELETE_SELF | IN_MOVE_SELF) != 0, let watched {
                        inotify_rm_watch(descriptor, watched.id)
                        self.watched = nil
                    }
                } else if name == watched?.name {
                    touched = true
                    replaced = mask & UInt32(IN_MOVED_TO) != 0
                }
                offset += 16 + length
            }
        }
        return touched
    }

    static func split(_ path: String) -> (directory: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let directory = String(path[..<slash])
        return (directory.isEmpty ? "/" : directory, String(path[path.index(after: slash)...]))
    }
}
