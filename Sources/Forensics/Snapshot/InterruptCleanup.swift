#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// What a snapshot has running or on disk that is not evidence yet: the command it is
/// running, the staging directory, and the archive and sidecar under their temporary
/// names. The executable calls `removeAll` when SIGINT or SIGTERM arrives, so an
/// interrupted snapshot leaves no partial archive, no staged copies and no orphan command.
public enum InterruptCleanup {
    private static let pending = Mutex<[String: Bool]>([:])
    private static let children = Mutex<Set<Int32>>([])

    static func register(child: Int32) {
        _ = children.withLock { $0.insert(child) }
    }

    static func unregister(child: Int32) {
        _ = children.withLock { $0.remove(child) }
    }

    static func register(_ path: String, isDirectory: Bool) {
        pending.withLock { $0[path] = isDirectory }
    }

    static func unregister(_ path: String) {
        _ = pending.withLock { $0.removeValue(forKey: path) }
    }

    public static func removeAll() {
        for child in children.withLock({ $0 }) { kill(child, SIGKILL) }
        let paths = pending.withLock { table in
            defer { table.removeAll() }
            return table
        }
        for (path, isDirectory) in paths {
            if isDirectory {
                EvidenceStaging.removeDirectory(path)
            } else {
                unlink(path)
            }
        }
    }
}
