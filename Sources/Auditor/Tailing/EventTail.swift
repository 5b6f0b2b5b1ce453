#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EventLog

/// Follows one event file as the proxy appends to it, across both kinds of log rotation:
///
/// - rename and create (logrotate's default): the old file is read until the new file at
///   the path has something in it (the writer has reopened), then to its end, then the new
///   file from its beginning;
/// - copy and truncate: when the file becomes shorter than the position, reading starts
///   again from its beginning.
///
/// And across a rotation while the auditor was down: when the saved position names a file
/// that is no longer at the path, that file is looked for beside it by inode (`RotatedFiles`)
/// and read on from the saved position, then every file rotated after it, then the file at
/// the path from its beginning. A file at the path with the saved inode but shorter than the
/// position (copied and truncated meanwhile) is read from its beginning.
///
/// Only complete lines are handed out; a line still being written waits for its newline.
/// `commit()` saves the position of everything handed out so far, so that a restart
/// neither loses nor repeats an event: call it once those events are processed.
/// Polled (`poll()`), not watched, so that the caller owns the schedule and tests
/// drive it step by step.
public final class EventTail {
    public let path: String
    private let store: TailPositionStore?
    private var descriptor: Int32 = -1
    private var device: UInt64 = 0
    private var inode: UInt64 = 0
    private var firstLineHash: UInt64 = 0
    /// File offset of `pending[0]`.
    private var pendingOffset: Int64 = 0
    private var pending: [UInt8] = []
    private var lineNumber = 0
    private var handedOut: TailPosition?
    /// Files rotated while the auditor was down, oldest first, to read to their end before
    /// the file at the path.
    private var backlog: [OpenFile] = []
    static let chunkBytes = 1 << 20
    /// A line without a newline this long is not an event being written: it is dropped.
    static let longestPendingLine = 1 << 20

    public init(path: String, store: TailPositionStore? = nil) {
        self.path = path
        self.store = store
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
        for file in backlog { close(file.descriptor) }
    }

    /// Reads whatever complete lines are there now, at most `limit` of them.
    public func poll(limit: Int = 10_000) -> [EventFileReader.Item] {
        var items: [EventFileReader.Item] = []
        if descriptor < 0 { openCurrent(resuming: true) }
        guard descriptor >= 0 else { return items }
        if isTruncated() {
            let rotation = RotatedFiles(beside: path)
            if let copy = rotation.copy(firstLineHash: firstLineHash, atLeast: pendingOffset, excluding: (device, inode)),
               let opened = openFile(rotation.path(of: copy)), opened.inode == copy.inode {
                // Copied and truncated: what was not read yet is in the copy, from the position on.
                backlog.insert(OpenFile(descriptor: descriptor, device: device, inode: inode, size: 0), at: 0)
                adopt(opened, offset: pendingOffset, lineNumber: lineNumber)
            } else {
                pending.removeAll()
                pendingOffset = 0
                lineNumber = 0
                firstLineHash = 0
                lseek(descriptor, 0, SEEK_SET)
            }
        }
        readThroughBacklog(into: &items, limit: limit)
        if items.count < limit, let replaced = replacedByNewFile() {
            // Rename and create: the writer goes on appending to the old file until it reopens
            // the path (mtproxy notices within a second), so the old file is read until the
            // new one has something in it. Then the old file to its end, any rotated after it
            // (more than one rotation between two polls), and the new one from its beginning.
            guard replaced.size > 0 else {
                close(replaced.descriptor)
                return items
            }
            readLines(into: &items, limit: limit)
            if items.count < limit {
                backlog = rotatedAfterCurrent(excluding: replaced) + [replaced]
                readThroughBacklog(into: &items, limit: limit)
            } else {
                close(replaced.descriptor)
            }
        }
        return items
    }

    /// Reads the file being read, then each file of the backlog from its beginning, while the limit allows.
    private func readThroughBacklog(into items: inout [EventFileReader.Item], limit: Int) {
        readLines(into: &items, limit: limit)
        while items.count < limit, !backlog.isEmpty {
            close(descriptor)
            adopt(backlog.removeFirst(), offset: 0, lineNumber: 0)
            readLines(into: &items, limit: limit)
        }
    }

    /// Saves the position of every line handed out so far.
    public func commit() {
        guard var position = handedOut else { return }
        if position.firstLineHash == 0, descriptor >= 0, position.device == device, position.inode == inode {
            // Nothing read of it yet, but it may have a first line by now: what tells its copy after a copytruncate.
            position.firstLineHash = Self.firstLineHash(of: descriptor)
            if position.firstLineHash != 0 { firstLineHash = position.firstLineHash }
            handedOut = position
        }
        store?.save(position)
    }

    private struct OpenFile {
        var descriptor: Int32
        var device: UInt64
        var inode: UInt64
        var size: Int64
    }

    private func openFile(_ path: String? = nil) -> OpenFile? {
        let fd = open(path ?? self.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            close(fd)
            return nil
        }
        return OpenFile(descriptor: fd, device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size))
    }

    private func openCurrent(resuming: Bool) {
        guard let file = openFile() else { return }
        guard resuming, let saved = store?.position(of: path) else {
            adopt(file, offset: 0, lineNumber: 0)
            return
        }
        if saved.device == file.device, saved.inode == file.inode, saved.offset <= file.size,
           saved.firstLineHash == Self.firstLineHash(of: file.descriptor) {
            adopt(file, offset: saved.offset, lineNumber: saved.lineNumber)
            return
        }
        // Rotated, or copied and truncated, while the auditor was down: the events after the
        // position are in the file it names or in its copy, and in the files rotated after it.
        let rotation = RotatedFiles(beside: path)
        var chain: [OpenFile] = []
        for entry in rotation.chain(after: saved, current: (file.device, file.inode)) {
            guard let opened = openFile(rotation.path(of: entry)) else { continue }
            // Rotated again between the directory scan and the open: not the file found.
            guard opened.device == entry.device, opened.inode == entry.inode else {
                close(opened.descriptor)
                if chain.isEmpty { break } else { continue }
            }
            chain.append(opened)
        }
        guard let first = chain.first else {
            // Neither is there any more (deleted, compressed): the file at the path is all new.
            adopt(file, offset: 0, lineNumber: 0)
            return
        }
        close(file.descriptor)
        backlog = Array(chain.dropFirst())
        adopt(first, offset: saved.offset, lineNumber: saved.lineNumber)
    }

    private func adopt(_ file: OpenFile, offset: Int64, lineNumber: Int) {
        descriptor = file.descriptor
        device = file.device
        inode = file.inode
        pending.removeAll()
        pendingOffset = offset
        self.lineNumber = lineNumber
        lseek(descriptor, off_t(offset), SEEK_SET)
        firstLineHash = Self.firstLineHash(of: descriptor)
        handedOut = TailPosition(path: path, device: device, inode: inode, offset: offset, lineNumber: lineNumber,
                                 firstLineHash: firstLineHash)
    }

    /// The files rotated after the one being read, opened, oldest first.
    private func rotatedAfterCurrent(excluding replaced: OpenFile) -> [OpenFile] {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return [] }
        let current = RotatedFiles.Entry(name: "", device: device, inode: inode, size: Int64(info.st_size),
                                         modified: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec))
        let rotation = RotatedFiles(beside: path)
        return rotation.later(than: current, excluding: (replaced.device, replaced.inode)).compactMap { entry in
            guard let opened = openFile(rotation.path(of: entry)) else { return nil }
            guard opened.device == entry.device, opened.inode == entry.inode else {
                close(opened.descriptor)
                return nil
            }
            return opened
        }
    }

    /// The file now at `path`, opened, when it is not the one being read.
    private func replacedByNewFile() -> OpenFile? {
        guard let file = openFile() else { return nil }
        if file.device == device && file.inode == inode {
            close(file.descriptor)
            return nil
        }
        return file
    }

    /// FNV-1a of the first complete line (at most 4 KiB), read without moving the offset; 0 if none yet.
    static func firstLineHash(of descriptor: Int32) -> UInt64 {
        var head = [UInt8](repeating: 0, count: Event.maximumLineBytes + 1)
        let count = head.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return 0 }
        let end = head[0..<count].firstIndex(of: 0x0A) ?? count
        guard end < count || count == head.count else { return 0 }
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in head[0..<end] {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        return hash == 0 ? 1 : hash
    }

    /// Shorter than what was read, or starting with another line: truncated (and perhaps
    /// written again past the position) since the last poll.
    private func isTruncated() -> Bool {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return false }
        if Int64(info.st_size) < pendingOffset + Int64(pending.count) { return true }
        return firstLineHash != 0 && Self.firstLineHash(of: descriptor) != firstLineHash
    }

    private func readLines(into items: inout [EventFileReader.Item], limit: Int) {
        var chunk = [UInt8](repeating: 0, count: Self.chunkBytes)
        while items.count < limit {
            takeLines(into: &items, limit: limit)
            if items.count >= limit { return }
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return }
            pending.append(contentsOf: chunk[0..<count])
        }
    }

    private func takeLines(into items: inout [EventFileReader.Item], limit: Int) {
        var start = 0
        while items.count < limit, let newline = pending[start...].firstIndex(of: 0x0A) {
            lineNumber += 1
            let isBlank = pending[start..<newline].allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
            if !isBlank {
                let number = lineNumber
                let result = pending.withUnsafeBufferPointer { all -> Result<Event, EventDecodingError> in
                    do throws(EventDecodingError) {
                        return .success(try Event(jsonLine: UnsafeBufferPointer(rebasing: all[start..<newline]), lineNumber: number))
                    } catch {
                        return .failure(error)
                    }
                }
                switch result {
                case .success(let event): items.append(.event(event, line: number))
                case .failure(var error):
                    error.file = path
                    items.append(.malformed(error))
                }
            }
            start = newline + 1
        }
        if pending.count - start > Self.longestPendingLine {
            lineNumber += 1
            var error = EventDecodingError(line: lineNumber, field: nil, message: "line longer than \(Self.longestPendingLine) bytes without a newline; dropped")
            error.file = path
            items.append(.malformed(error))
            start = pending.count
        }
        if start > 0 {
            pending.removeFirst(start)
            pendingOffset += Int64(start)
            if firstLineHash == 0 { firstLineHash = Self.firstLineHash(of: descriptor) }
            handedOut = TailPosition(path: path, device: device, inode: inode, offset: pendingOffset, lineNumber: lineNumber,
                                     firstLineHash: firstLineHash)
        }
    }
}
