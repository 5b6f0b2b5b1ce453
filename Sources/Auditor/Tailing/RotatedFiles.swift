#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The files an event file was rotated into, found beside it by inode: when the auditor was
/// down across a rotation, the file its saved position names has moved (`events.jsonl.1`,
/// `events.jsonl-20261125`), and the events after that position are still in it.
///
/// Only regular, uncompressed files under a rotation name of the event file are looked at
/// (`isRotationName`). A compressed file is a new inode and its events cannot be tailed:
/// logrotate's `delaycompress` keeps the newest rotated file as it is.
struct RotatedFiles {
    struct Entry {
        var name: String
        var device: UInt64
        var inode: UInt64
        var size: Int64
        /// Nanoseconds since the epoch.
        var modified: Int64
    }

    let directory: String
    let name: String

    init(beside path: String) {
        if let slash = path.lastIndex(of: "/") {
            let parent = String(path[..<slash])
            directory = parent.isEmpty ? "/" : parent
            name = String(path[path.index(after: slash)...])
        } else {
            directory = "."
            name = path
        }
    }

    static let compressedSuffixes = [".gz", ".xz", ".bz2", ".zst", ".lz4", ".lzma", ".Z", ".zip", ".br"]

    /// `NAME` followed by `.`, `-` or `_` and a suffix of digits and date separators
    /// (`NAME.1`, `NAME-20261125`, `NAME.2026-11-25`), or with logrotate's `extension`
    /// such a suffix before the extension (`STEM.1.EXT`, `STEM-20261125.EXT`); not a
    /// backup or an editor's file (`NAME.bak`, `NAME.swp`), and not compressed.
    func isRotationName(_ candidate: String) -> Bool {
        guard candidate != name, !Self.compressedSuffixes.contains(where: { candidate.hasSuffix($0) }) else { return false }
        if let suffix = Self.suffix(of: candidate, after: name[...]), Self.isRotationSuffix(suffix) { return true }
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return false }
        let fileExtension = name[dot...]
        guard candidate.hasSuffix(fileExtension) else { return false }
        let withoutExtension = candidate.dropLast(fileExtension.count)
        guard let suffix = Self.suffix(of: String(withoutExtension), after: name[..<dot]) else { return false }
        return Self.isRotationSuffix(suffix)
    }

    /// What follows `stem` and one separator in `candidate`.
    private static func suffix(of candidate: String, after stem: Substring) -> Substring? {
        guard candidate.hasPrefix(stem) else { return nil }
        let rest = candidate.dropFirst(stem.count)
        guard let separator = rest.first, ".-_".contains(separator) else { return nil }
        return rest.dropFirst()
    }

    private static func isRotationSuffix(_ suffix: Substring) -> Bool {
        suffix.first?.isASCII == true && suffix.first!.isNumber
            && suffix.allSatisfy { ($0.isASCII && $0.isNumber) || ".-_".contains($0) }
    }

    /// Regular files under a rotation name, as `stat` sees them now.
    func entries() -> [Entry] {
        guard let handle = opendir(directory) else { return [] }
        defer { closedir(handle) }
        var found: [Entry] = []
        while let entry = readdir(handle) {
            let candidate = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard isRotationName(candidate) else { continue }
            var info = stat()
            guard lstat(directory + "/" + candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG else { continue }
            found.append(Entry(name: candidate, device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
                               modified: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)))
        }
        return found
    }

    /// Where the events after `saved` are, oldest first: the file it names (found by its inode
    /// and first line, as inodes are reused) or, if that file was truncated, the copy
    /// `copytruncate` made of it (found by its first line); then the files modified after
    /// it — rotated later — but `current`. Empty when neither is there any more.
    func chain(after saved: TailPosition, current: (device: UInt64, inode: UInt64)) -> [Entry] {
        let all = entries()
        let intact = all.first { entry in
            entry.device == saved.device && entry.inode == saved.inode && entry.size >= saved.offset
                && firstLineMatches(entry, saved: saved)
        }
        guard let start = intact ?? copy(firstLineHash: saved.firstLineHash, atLeast: saved.offset, excluding: current, among: all)
        else { return [] }
        return [start] + later(than: start, excluding: current, among: all)
    }

    /// The files rotated after `file` — modified later — but `excluding`, oldest first: those
    /// a reader of `file` must read before the file now at the path.
    func later(than file: Entry, excluding: (device: UInt64, inode: UInt64), among all: [Entry]? = nil) -> [Entry] {
        (all ?? entries())
            .filter { entry in
                entry.modified > file.modified && !(entry.device == file.device && entry.inode == file.inode)
                    && !(entry.device == excluding.device && entry.inode == excluding.inode)
            }
            .sorted { ($0.modified, $0.name) < ($1.modified, $1.name) }
    }

    func path(of entry: Entry) -> String { directory + "/" + entry.name }

    /// The copy `copytruncate` made of a file before truncating it: the most recently modified
    /// file under a rotation name that starts with the same first line, holds at least `size`
    /// bytes, and is not `excluding` (the truncated file itself).
    func copy(firstLineHash hash: UInt64, atLeast size: Int64, excluding: (device: UInt64, inode: UInt64),
              among all: [Entry]? = nil) -> Entry? {
        guard hash != 0 else { return nil }
        let candidates = (all ?? entries())
            .filter { $0.size >= size && !($0.device == excluding.device && $0.inode == excluding.inode) }
            .sorted { $0.modified > $1.modified }
        return candidates.prefix(16).first { firstLineHash(of: $0) == hash }
    }

    private func firstLineMatches(_ entry: Entry, saved: TailPosition) -> Bool {
        // Nothing read of it yet: nothing to tell it by but its inode, and all of it is unread.
        if saved.firstLineHash == 0 { return saved.offset == 0 }
        return firstLineHash(of: entry) == saved.firstLineHash
    }

    private func firstLineHash(of entry: Entry) -> UInt64? {
        let descriptor = open(path(of: entry), O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        return EventTail.firstLineHash(of: descriptor)
    }
}
