#if canImport(Glibc)
import Glibc
#endif

/// Giving up root after the listen ports are bound (`user:`), and refusing to keep it by
/// accident.
public enum PrivilegeDrop {
    public enum Failure: Error, Sendable, Hashable, CustomStringConvertible {
        case rootWithoutUser
        case unknownUser(String)
        case userIsRoot(String)
        case notRoot(String)
        case call(String, String)
        case regainedRoot
        case threadKeptPrivileges(Int32)

        public var description: String {
            switch self {
            case .rootWithoutUser:
                "refusing to run as root: set `user:` in the configuration to drop privileges after binding, or pass --allow-root (allow_root: true) to keep them"
            case .unknownUser(let name):
                "user: no such user \(name)"
            case .userIsRoot(let name):
                "user: \(name) has uid 0; name an unprivileged user"
            case .notRoot(let name):
                "user: cannot switch to \(name) without running as root; remove `user:` or start as root"
            case .call(let call, let reason):
                "\(call) failed: \(reason)"
            case .regainedRoot:
                "privileges could be regained after dropping them; stopping"
            case .threadKeptPrivileges(let thread):
                "thread \(thread) still runs with the old user or group after dropping privileges; stopping"
            }
        }
    }

    /// The effective user id of this process.
    public static var isRoot: Bool { geteuid() == 0 }

    /// Checks, before binding, that the process will not end up serving as root by accident.
    public static func checkPolicy(user: String?, allowRoot: Bool, isRoot: Bool = PrivilegeDrop.isRoot) throws(Failure) {
        if isRoot && user == nil && !allowRoot { throw .rootWithoutUser }
        if !isRoot, let user {
            // Already the named user (a unit file may start us as it): nothing to drop.
            guard let entry = getpwnam(user) else { throw .unknownUser(user) }
            if entry.pointee.pw_uid != getuid() { throw .notRoot(user) }
        }
    }

    /// Switches to `user` for good: groups, group, then user; verifies that
    /// root cannot be regained. Does nothing when already running as that user.
    public static func drop(to user: String) throws(Failure) {
        guard let entry = getpwnam(user) else { throw .unknownUser(user) }
        let uid = entry.pointee.pw_uid
        let gid = entry.pointee.pw_gid
        if uid == 0 { throw .userIsRoot(user) }
        if getuid() == uid && geteuid() == uid { return }
        guard geteuid() == 0 else { throw .notRoot(user) }
        // Only the user's primary group: supplementary groups (docker, adm) could grant more.
        guard setgroups(1, [gid]) == 0 else { throw .call("setgroups", systemError()) }
        guard setgid(gid) == 0 else { throw .call("setgid", systemError()) }
        guard setuid(uid) == 0 else { throw .call("setuid", systemError()) }
        guard getuid() == uid, geteuid() == uid, getgid() == gid, getegid() == gid else { throw .regainedRoot }
        if setuid(0) == 0 || seteuid(0) == 0 { throw .regainedRoot }
        if let thread = threadWithOtherCredentials(uid: uid, gid: gid) { throw .threadKeptPrivileges(thread) }
    }

    /// The first thread of this process whose real, effective, saved or filesystem user or
    /// group differs from `uid`/`gid`, read from /proc/self/task; nil when all match or
    /// /proc cannot be read.
    static func threadWithOtherCredentials(uid: uid_t, gid: gid_t) -> Int32? {
        guard let directory = opendir("/proc/self/task") else { return nil }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let thread = Int32(name) else { continue }
            guard let status = readStatus("/proc/self/task/\(name)/status") else { continue }
            for line in status.split(separator: "\n") {
                let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
                guard let label = fields.first, label == "Uid:" || label == "Gid:" else { continue }
                let expected = label == "Uid:" ? UInt64(uid) : UInt64(gid)
                if fields.dropFirst().contains(where: { UInt64($0) != expected }) { return thread }
            }
        }
        return nil
    }

    private static func readStatus(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: 8_192)
        let count = read(descriptor, &bytes, bytes.count)
        guard count > 0 else { return nil }
        return String(decoding: bytes[0..<count], as: UTF8.self)
    }

    private static func systemError() -> String { String(cString: strerror(errno)) }
}
