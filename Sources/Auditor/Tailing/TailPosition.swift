/// How far an event file has been read: which file (device and inode, as a rotated
/// file keeps its inode under a new name) and where in it.
public struct TailPosition: Sendable, Hashable {
    public var path: String
    public var device: UInt64
    public var inode: UInt64
    /// Bytes consumed: the end of the last complete line handed out and committed.
    public var offset: Int64
    /// Lines consumed, so that messages keep naming the right line after a restart.
    public var lineNumber: Int
    /// FNV-1a of the file's first line (0 before it has one): inode numbers are reused
    /// once a file is deleted, the first line of an event log (a timestamp) is not.
    public var firstLineHash: UInt64

    public init(path: String, device: UInt64, inode: UInt64, offset: Int64, lineNumber: Int, firstLineHash: UInt64) {
        self.path = path
        self.device = device
        self.inode = inode
        self.offset = offset
        self.lineNumber = lineNumber
        self.firstLineHash = firstLineHash
    }
}

/// Where tail positions survive a restart: the auditor's state store.
public protocol TailPositionStore: AnyObject {
    func position(of path: String) -> TailPosition?
    func save(_ position: TailPosition)
}

/// Positions held in memory: for tests, and for `--no-state` runs.
public final class MemoryTailPositionStore: TailPositionStore {
    private var positions: [String: TailPosition] = [:]

    public init() {}

    public func position(of path: String) -> TailPosition? { positions[path] }

    public func save(_ position: TailPosition) { positions[position.path] = position }
}
