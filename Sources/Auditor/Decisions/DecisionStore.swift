import EventLog
import Logging
import NIOCore
import SQLiteNIO
import Synchronization

/// The auditor's state in one SQLite file (the configuration's `state:`): every decision
/// with its outcome, each value's count of bans (escalation survives a restart), and how
/// far each event file has been read.
///
/// Every operation is one SQL statement, so each is atomic on its own and callers on
/// several tasks cannot interleave half-done transactions. The file is in WAL mode, so
/// `mtauditor decisions` can read and write it beside a running daemon. Close it with
/// `close()` before dropping it.
public final class DecisionStore: TailPositionStore, Sendable {
    /// The schema this build writes (`PRAGMA user_version`).
    public static let schemaVersion = 1

    public let path: String
    private let connection: SQLiteConnection
    private let logger: Logger
    /// Tail positions, read once at open and written through: `EventTail` asks on its hot path.
    private let positions: Mutex<[String: TailPosition]>

    private init(path: String, connection: SQLiteConnection, logger: Logger, positions: [String: TailPosition]) {
        self.path = path
        self.connection = connection
        self.logger = logger
        self.positions = Mutex(positions)
    }

    /// Opens (creating when missing) the state file at `path` and brings its schema up to date.
    /// A file that is not an auditor state database, or one from a newer auditor, is refused
    /// with an error naming the path.
    public static func open(path: String, logger: Logger = Logger(label: "mtshield.auditor.state")) async throws(AuditorError) -> DecisionStore {
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        } catch {
            throw AuditorError.state(path: path, message: "cannot open: \(Self.describe(error))")
        }
        do {
            try await migrate(connection, path: path)
            let rows = try await connection.query(
                "SELECT path, device, inode, offset, line_number, first_line_hash FROM tail_positions")
            var positions: [String: TailPosition] = [:]
            for row in rows {
                guard let position = tailPosition(row) else { continue }
                positions[position.path] = position
            }
            return DecisionStore(path: path, connection: connection, logger: logger, positions: positions)
        } catch {
            try? await connection.close()
            if let error = error as? AuditorError { throw error }
            throw AuditorError.state(path: path, message: Self.describe(error))
        }
    }

    public func close() async {
        do {
            try await connection.close()
        } catch {
            logger.warning("state store did not close cleanly", metadata: ["state.path": "\(path)", "error": "\(error)"])
        }
    }

    // MARK: Decisions

    /// Stores new decisions; each one also counts as a ban of its value for escalation.
    public func record(_ decisions: [Decision]) async throws(AuditorError) {
        guard !decisions.isEmpty else { return }
        // One multi-row INSERT: the batch is stored whole or not at all.
        for chunk in decisions.chunked(by: 500) {
            var sql = "INSERT INTO decisions (value, scope, rule, reason, created, until, repeat_count, origin, simulated) VALUES "
            var binds: [SQLiteData] = []
            binds.reserveCapacity(chunk.count * 9)
            for (index, decision) in chunk.enumerated() {
                sql += index == 0 ? "(?,?,?,?,?,?,?,?,?)" : ",(?,?,?,?,?,?,?,?,?)"
                binds += [.text(decision.value), .text(decision.scope.rawValue), .text(decision.rule), .text(decision.reason),
                          .integer(Int(decision.created)), .integer(Int(decision.until)), .integer(decision.repeatCount),
                          .text(decision.origin.rawValue), .integer(decision.simulated ? 1 : 0)]
            }
            try await run(sql, binds)
        }
    }

    /// Decisions in force at `now` (not expired, not lifted), oldest first; simulated ones included.
    public func active(at now: Int64) async throws(AuditorError) -> [Decision] {
        try await run("SELECT \(Self.columns) FROM decisions WHERE ended IS NULL AND until > ? ORDER BY created, id",
                      [.integer(Int(now))]).compactMap { Self.storedDecision($0)?.decision }
    }

    /// Marks the decisions that ran out by `now` as ended and returns them, once each:
    /// the caller removes them from the blockers.
    public func expire(now: Int64) async throws(AuditorError) -> [Decision] {
        try await run("UPDATE decisions SET ended = until WHERE ended IS NULL AND until <= ? RETURNING \(Self.columns)",
                      [.integer(Int(now))]).compactMap { Self.storedDecision($0)?.decision }
    }

    /// Ends every decision on `value` still in force at `now` (an operator's unban) and returns them.
    /// The value's ban count stays: a later ban still escalates.
    public func lift(_ value: String, at now: Int64) async throws(AuditorError) -> [Decision] {
        try await run("UPDATE decisions SET ended = ? WHERE value = ? AND ended IS NULL AND until > ? RETURNING \(Self.columns)",
                      [.integer(Int(now)), .text(value), .integer(Int(now))]).compactMap { Self.storedDecision($0)?.decision }
    }

    /// Every decision created at or after `time` (milliseconds since the epoch), in force or
    /// not, oldest first: for reports.
    public func decisions(since time: Int64) async throws(AuditorError) -> [StoredDecision] {
        try await run("SELECT \(Self.columns) FROM decisions WHERE created >= ? ORDER BY created, id",
                      [.integer(Int(time))]).compactMap(Self.storedDecision)
    }

    /// Every decision that applied at some time in `[since, now]` (milliseconds since the
    /// epoch): made by `now` and not ended, expired or lifted, before `since`. Oldest first.
    public func decisions(overlapping since: Int64, _ now: Int64) async throws(AuditorError) -> [StoredDecision] {
        try await run("""
            SELECT \(Self.columns) FROM decisions WHERE created <= ? AND min(coalesce(ended, until), until) > ?
            ORDER BY created, id
            """, [.integer(Int(now)), .integer(Int(since))]).compactMap(Self.storedDecision)
    }

    /// How many times `value` has been banned, over the store's whole life.
    public func banCount(of value: String) async throws(AuditorError) -> Int {
        try await run("SELECT bans FROM ban_history WHERE value = ?", [.text(value)]).first?.column("bans")?.integer ?? 0
    }

    /// Every value's ban count.
    public func banCounts() async throws(AuditorError) -> [String: Int] {
        var counts: [String: Int] = [:]
        for row in try await run("SELECT value, bans FROM ban_history") {
            if let value = row.column("value")?.string, let bans = row.column("bans")?.integer { counts[value] = bans }
        }
        return counts
    }

    /// A `DecisionBook` holding the decisions in force at `now` and every value's ban count,
    /// for the rule engine after a restart.
    public func book(allowlist: [CIDR], simulation: Bool, now: Int64) async throws(AuditorError) -> DecisionBook {
        DecisionBook(allowlist: allowlist, simulation: simulation,
                     active: try await active(at: now), banCounts: try await banCounts())
    }

    // MARK: Tail positions

    public func position(of path: String) -> TailPosition? {
        positions.withLock { $0[path] }
    }

    /// Saves a position before returning (one upsert): a restart resumes exactly there.
    /// Blocks the calling thread for that write; call it from a task or thread, never from
    /// a NIO event loop. A failed write is logged and the position kept in memory.
    public func save(_ position: TailPosition) {
        positions.withLock { $0[position.path] = position }
        let binds: [SQLiteData] = [
            .text(position.path), .integer(Int(truncatingIfNeeded: position.device)),
            .integer(Int(truncatingIfNeeded: position.inode)), .integer(Int(position.offset)),
            .integer(position.lineNumber), .integer(Int(truncatingIfNeeded: position.firstLineHash)),
        ]
        let write: EventLoopFuture<[SQLiteRow]> = connection.query("""
            INSERT INTO tail_positions (path, device, inode, offset, line_number, first_line_hash) VALUES (?,?,?,?,?,?)
            ON CONFLICT (path) DO UPDATE SET device = excluded.device, inode = excluded.inode, offset = excluded.offset,
                line_number = excluded.line_number, first_line_hash = excluded.first_line_hash
            """, binds)
        do {
            _ = try write.wait()
        } catch {
            logger.error("tail position not saved", metadata: ["state.path": "\(self.path)", "tail.path": "\(position.path)",
                                                             "error": "\(Self.describe(error))"])
        }
    }

    // MARK: SQL

    private static let columns = "id, value, scope, rule, reason, created, until, repeat_count, origin, simulated, ended"

    @discardableResult
    private func run(_ sql: String, _ binds: [SQLiteData] = []) async throws(AuditorError) -> [SQLiteRow] {
        do {
            return try await connection.query(sql, binds)
        } catch {
            throw AuditorError.state(path: path, message: Self.describe(error))
        }
    }

    private static func storedDecision(_ row: SQLiteRow) -> StoredDecision? {
        guard let id = row.column("id")?.integer, let value = row.column("value")?.string,
              let scope = row.column("scope")?.string.flatMap(Decision.Scope.init(rawValue:)),
              let rule = row.column("rule")?.string, let reason = row.column("reason")?.string,
              let created = row.column("created")?.integer, let until = row.column("until")?.integer,
              let repeatCount = row.column("repeat_count")?.integer,
              let origin = row.column("origin")?.string.flatMap(Decision.Origin.init(rawValue:)),
              let simulated = row.column("simulated")?.integer
        else { return nil }
        let decision = Decision(value: value, scope: scope, rule: rule, reason: reason, created: Int64(created),
                                until: Int64(until), repeatCount: repeatCount, origin: origin, simulated: simulated != 0)
        return StoredDecision(id: Int64(id), decision: decision, ended: row.column("ended")?.integer.map(Int64.init))
    }

    private static func tailPosition(_ row: SQLiteRow) -> TailPosition? {
        guard let path = row.column("path")?.string, let device = row.column("device")?.integer,
              let inode = row.column("inode")?.integer, let offset = row.column("offset")?.integer,
              let lineNumber = row.column("line_number")?.integer, let hash = row.column("first_line_hash")?.integer
        else { return nil }
        return TailPosition(path: path, device: UInt64(truncatingIfNeeded: device), inode: UInt64(truncatingIfNeeded: inode),
                            offset: Int64(offset), lineNumber: lineNumber, firstLineHash: UInt64(truncatingIfNeeded: hash))
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? SQLiteError {
            switch error.reason {
            case .notADatabase: return "not an SQLite database (is `state:` pointing at another file?)"
            case .corrupt: return "the database is corrupt (\(error.message))"
            case .readOnly, .permission, .cantOpen: return "cannot write the database (\(error.message))"
            case .full: return "the disk is full"
            default: return error.message
            }
        }
        return "\(error)"
    }
}

/// A decision as the store holds it: with its row id and when it ended (expired or was
/// lifted by an operator), nil while it runs.
public struct StoredDecision: Sendable, Hashable {
    public var id: Int64
    public var decision: Decision
    public var ended: Int64?
}

extension DecisionStore {
    /// Version 1: decisions (kept after they end, for reports), ban counts (kept by a
    /// trigger, so escalation survives a restart and a pruned history), tail positions.
    private static let schema: [String] = [
        """
        CREATE TABLE decisions (
            id INTEGER PRIMARY KEY,
            value TEXT NOT NULL,
            scope TEXT NOT NULL,
            rule TEXT NOT NULL,
            reason TEXT NOT NULL,
            created INTEGER NOT NULL,
            until INTEGER NOT NULL,
            repeat_count INTEGER NOT NULL,
            origin TEXT NOT NULL,
            simulated INTEGER NOT NULL,
            ended INTEGER
        )
        """,
        "CREATE INDEX decisions_in_force ON decisions (until) WHERE ended IS NULL",
        "CREATE INDEX decisions_by_value ON decisions (value)",
        "CREATE INDEX decisions_by_created ON decisions (created)",
        "CREATE TABLE ban_history (value TEXT PRIMARY KEY, bans INTEGER NOT NULL, last_ban INTEGER NOT NULL) WITHOUT ROWID",
        """
        CREATE TRIGGER decisions_count_bans AFTER INSERT ON decisions BEGIN
            INSERT INTO ban_history (value, bans, last_ban) VALUES (NEW.value, 1, NEW.created)
            ON CONFLICT (value) DO UPDATE SET bans = bans + 1, last_ban = max(last_ban, excluded.last_ban);
        END
        """,
        """
        CREATE TABLE tail_positions (
            path TEXT PRIMARY KEY,
            device INTEGER NOT NULL,
            inode INTEGER NOT NULL,
            offset INTEGER NOT NULL,
            line_number INTEGER NOT NULL,
            first_line_hash INTEGER NOT NULL
        ) WITHOUT ROWID
        """,
    ]

    private static func migrate(_ connection: SQLiteConnection, path: String) async throws {
        // The first read: a file that is not a database fails here, with SQLITE_NOTADB.
        let version = try await connection.query("PRAGMA user_version").first?.column("user_version")?.integer ?? 0
        if version > schemaVersion {
            throw AuditorError.state(path: path, message: "schema version \(version) was written by a newer mtauditor (this one knows \(schemaVersion))")
        }
        if version == 0 {
            let tables = try await connection.query("SELECT name FROM sqlite_master WHERE type = 'table'")
            if !tables.isEmpty {
                throw AuditorError.state(path: path, message: "an SQLite database that is not an auditor state store (it has tables but no schema version)")
            }
        }
        _ = try await connection.query("PRAGMA journal_mode = WAL")
        _ = try await connection.query("PRAGMA synchronous = NORMAL")
        guard version < schemaVersion else { return }
        _ = try await connection.query("BEGIN IMMEDIATE")
        do {
            for statement in schema { _ = try await connection.query(statement) }
            _ = try await connection.query("PRAGMA user_version = \(schemaVersion)")
            _ = try await connection.query("COMMIT")
        } catch {
            _ = try? await connection.query("ROLLBACK")
            throw error
        }
    }
}

extension Array {
    func chunked(by size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
