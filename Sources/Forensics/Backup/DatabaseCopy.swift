#if canImport(Glibc)
import Glibc
#endif
import VaporCSQLite

/// A consistent single-file copy of a SQLite database that may be open and written to
/// (the auditor's state, in WAL mode): SQLite's online backup API reads the database
/// inside one read transaction, so the copy holds every committed change, also those
/// still only in the `-wal` file, and nothing half-written. Copying the main file's bytes
/// would miss whatever the WAL holds until the next checkpoint.
enum DatabaseCopy {
    /// The first 16 bytes of every SQLite 3 database file.
    static let magic: [UInt8] = Array("SQLite format 3".utf8) + [0]
    /// The files SQLite keeps beside a database while it is in use.
    static let companionSuffixes = ["-wal", "-shm", "-journal"]

    /// Whether the file at `path` starts like a SQLite 3 database.
    static func isDatabase(_ path: String) -> Bool {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var header = [UInt8](repeating: 0, count: magic.count)
        let count = header.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        return count == magic.count && header == magic
    }

    /// Writes a copy of the database at `source` to `destination` (a new file), waiting up
    /// to `busyTimeoutMilliseconds` while a writer holds a lock.
    static func copy(from source: String, to destination: String, busyTimeoutMilliseconds: Int32 = 10_000) throws(ForensicsError) {
        var sourceHandle: OpaquePointer?
        defer { sqlite_nio_sqlite3_close_v2(sourceHandle) }
        // Read-only: the copy never changes the live database, nor checkpoints its WAL.
        guard sqlite_nio_sqlite3_open_v2(source, &sourceHandle, SQLITE_OPEN_READONLY, nil) == SQLITE_OK,
              let sourceHandle else {
            throw .codec("\(source): cannot open the database: \(message(sourceHandle))")
        }
        sqlite_nio_sqlite3_busy_timeout(sourceHandle, busyTimeoutMilliseconds)

        var destinationHandle: OpaquePointer?
        defer { sqlite_nio_sqlite3_close_v2(destinationHandle) }
        guard sqlite_nio_sqlite3_open_v2(destination, &destinationHandle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nil) == SQLITE_OK,
              let destinationHandle else {
            throw .codec("\(destination): cannot create the copy: \(message(destinationHandle))")
        }
        guard let backup = sqlite_nio_sqlite3_backup_init(destinationHandle, "main", sourceHandle, "main") else {
            throw .codec("\(source): cannot start the copy: \(message(destinationHandle))")
        }
        // All pages in one step: one read transaction, so one consistent state. A writer
        // holding the lock (busy) is waited for, within the budget.
        var waited: Int32 = 0
        var step = sqlite_nio_sqlite3_backup_step(backup, -1)
        while (step == SQLITE_BUSY || step == SQLITE_LOCKED) && waited < busyTimeoutMilliseconds {
            usleep(20_000)
            waited += 20
            step = sqlite_nio_sqlite3_backup_step(backup, -1)
        }
        let finished = sqlite_nio_sqlite3_backup_finish(backup)
        guard step == SQLITE_DONE, finished == SQLITE_OK else {
            let reason = String(cString: sqlite_nio_sqlite3_errstr(step == SQLITE_DONE ? finished : step))
            throw .codec("\(source): the database could not be copied: \(reason)")
        }
    }

    private static func message(_ handle: OpaquePointer?) -> String {
        guard let handle else { return "out of memory" }
        return String(cString: sqlite_nio_sqlite3_errmsg(handle))
    }
}
