#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CMTMappedFile
import EventLog

/// Reads an event file (or standard input, `-`) line by line and decodes each line.
/// A malformed line is returned as its error and the reader carries on after it.
///
/// A regular file is mapped, in windows, and its lines are decoded where they lie; standard
/// input, pipes, small files and anything `mmap` refuses are read with read(2) into a
/// buffer. Both give the same lines: blank ones skipped, a last line without its newline,
/// a line longer than `chunkBytes` handed over as its first `chunkBytes` bytes (which the
/// decoder rejects as too long) and the rest of it dropped.
///
/// A file is mapped as long as it was when opened; what is appended later is read with
/// read(2) after the mapped part, as read(2) alone would have read it. If the file shrinks
/// while mapped, a read of a page it no longer holds would raise SIGBUS and end the
/// program: CMTMappedFile's handler maps zeros there instead, and the reader, seeing that
/// (or the smaller size) at the next malformed line or window, leaves the mapping and
/// reads the line it was at again with read(2): nothing more, if the file now ends before.
public final class EventFileReader {
    public enum Item: Sendable {
        case event(Event, line: Int)
        case malformed(EventDecodingError)
    }

    public let path: String
    /// The fields decoded into each event; the others are checked but not kept.
    public var fields: EventFieldSet {
        get { decoder.fields }
        set { decoder.fields = newValue }
    }
    /// Fewer fields for the lines of some actions (`EventLineDecoder.fieldsByAction`).
    public var fieldsByAction: [EventAction: EventFieldSet] {
        get { decoder.fieldsByAction }
        set { decoder.fieldsByAction = newValue }
    }
    // Unchecked: a line's decode is one access to the decoder, and a dynamic exclusivity
    // check of it (perf: swift_beginAccess, AccessSet::insert) cost about 3 % of reading.
    @exclusivity(unchecked) private var decoder = EventLineDecoder()
    private let descriptor: Int32
    private let policy: MappingPolicy
    /// read(2)'s buffer, allocated when first needed.
    private var buffer: UnsafeMutableBufferPointer<UInt8>?
    /// The bytes lines are found in: the mapped window, or `buffer`; `start..<end` is unread.
    private var bytes: UnsafePointer<UInt8>?
    private var start = 0
    private var end = 0
    /// The mapped window, when reading a mapped file. Unchecked as `decoder` is: read for
    /// every line, and passed to C by address, which made each read a dynamic access.
    @exclusivity(unchecked) private var window = mt_mapped_window(bytes: nil, length: 0, slot: -1)
    /// Where the window starts in the file, and how much of the file is mapped: its size
    /// when it was opened (bytes appended later are read with read(2), after the mapping).
    private var windowOffset = 0
    private var mappedSize = 0
    /// Where the last line handed over starts in `bytes`.
    private var lineStart = 0
    private var atEndOfFile = false
    private var lineNumber = 0
    /// Set after a line filled the whole buffer: the rest of it is dropped.
    private var skippingRestOfLine = false
    /// The longest part of a line handed to the decoder, and read(2)'s buffer size.
    static let chunkBytes = 1 << 20

    /// When a file is mapped rather than read with read(2).
    struct MappingPolicy {
        /// Files smaller than this are read: one read(2) costs less than setting up a mapping.
        var minimumBytes: Int
        /// The size of a window (rounded to pages; at least `chunkBytes` and two pages more,
        /// so that any line a window starts with fits in it up to `chunkBytes`); it bounds
        /// the file's pages counted in the process's memory.
        var windowBytes: Int

        /// Measured over 1M generated lines (Benchmarks/auditor/README.md): windows of 2 to
        /// 64 MiB, populated up front or faulted in, cost the same within the noise; read(2)
        /// costs about 20 ns a line more. Small windows keep the peak RSS where read(2)'s
        /// buffer kept it (8 MiB windows added 6 MB to a replay's).
        static let standard = MappingPolicy(minimumBytes: 1 << 20, windowBytes: 2 << 20)
        static let never = MappingPolicy(minimumBytes: .max, windowBytes: 0)
    }

    public convenience init(path: String) throws(AuditorError) {
        try self.init(path: path, policy: .standard)
    }

    init(path: String, policy: MappingPolicy) throws(AuditorError) {
        self.path = path
        self.policy = policy
        if path == "-" {
            descriptor = 0
        } else {
            descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else {
                throw AuditorError.input(path: path, message: "cannot open: \(String(cString: strerror(errno)))")
            }
            var status = stat()
            if fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG, Int(status.st_size) >= policy.minimumBytes {
                mappedSize = Int(status.st_size)
                if !map(at: 0) { mappedSize = 0 }
            }
        }
    }

    deinit {
        mt_mapped_window_close(&window)
        buffer?.deallocate()
        if descriptor > 0 { close(descriptor) }
    }

    /// What `next(into:)` found on the next line that is not blank.
    public enum Found: Sendable {
        case event(line: Int)
        case malformed(EventDecodingError)
    }

    /// The next event or malformed line; nil at the end of the input. Blank lines are skipped.
    public func next() throws(AuditorError) -> Item? {
        var event = Event(timestampMilliseconds: 0, action: "")
        switch try next(into: &event) {
        case .event(let line): return .event(event, line: line)
        case .malformed(let error): return .malformed(error)
        case nil: return nil
        }
    }

    /// As `next()`, decoding into `event`: the line's event after `.event`, unspecified
    /// after `.malformed`. A reader of many lines reuses one `Event` rather than moving a
    /// new one out for each line.
    public func next(into event: inout Event) throws(AuditorError) -> Found? {
        while true {
            guard let line = try nextLine() else { return nil }
            lineNumber += 1
            if Self.isBlank(line) { continue }
            do throws(EventDecodingError) {
                try decoder.decode(line, lineNumber: lineNumber, into: &event)
                return .event(line: lineNumber)
            } catch {
                // A line that met the zeros of a shrunk file is not the file's: it is read
                // again with read(2), from its start, as whatever the file now holds there.
                if window.bytes != nil, fileShrank() {
                    lineNumber -= 1
                    skippingRestOfLine = false
                    try readOn(from: windowOffset + lineStart)
                    continue
                }
                var error = error
                error.file = path
                return .malformed(error)
            }
        }
    }

    private static func isBlank(_ line: UnsafeBufferPointer<UInt8>) -> Bool {
        for byte in line where byte != 0x20 && byte != 0x09 && byte != 0x0D { return false }
        return true
    }

    /// memchr: the scan for line ends is the reader's inner loop.
    private func newline(from position: Int, to limit: Int) -> Int? {
        guard position < limit, let base = bytes,
              let found = memchr(base + position, 0x0A, limit - position) else { return nil }
        return base.distance(to: found.assumingMemoryBound(to: UInt8.self))
    }

    private func line(_ from: Int, _ to: Int) -> UnsafeBufferPointer<UInt8> {
        lineStart = from
        return UnsafeBufferPointer(start: bytes! + from, count: to - from)
    }

    private func nextLine() throws(AuditorError) -> UnsafeBufferPointer<UInt8>? {
        while true {
            if skippingRestOfLine {
                if let newline = newline(from: start, to: end) {
                    start = newline + 1
                    skippingRestOfLine = false
                } else {
                    start = end
                }
            }
            if !skippingRestOfLine {
                let limit = min(end, start + Self.chunkBytes)
                if let newline = newline(from: start, to: limit) {
                    defer { start = newline + 1 }
                    return line(start, newline)
                }
                if limit - start == Self.chunkBytes {
                    // A line of `chunkBytes` without its end: hand over its start, which the
                    // decoder rejects as too long, and drop the rest, so memory stays bounded.
                    skippingRestOfLine = true
                    defer { start = limit }
                    return line(start, limit)
                }
            }
            if atEndOfFile {
                guard start < end, !skippingRestOfLine else { return nil }
                defer { start = end }
                return line(start, end)
            }
            if window.bytes != nil {
                try advanceWindow()
            } else {
                try fill()
            }
        }
    }

    /// The unread bytes moved to the front of the buffer, and more read after them.
    private func fill() throws(AuditorError) {
        let buffer = readBuffer()
        bytes = UnsafePointer(buffer.baseAddress!)
        if start > 0 {
            let count = end - start
            if count > 0 { _ = memmove(buffer.baseAddress!, buffer.baseAddress! + start, count) }
            end -= start
            start = 0
        }
        while true {
            let count = read(descriptor, buffer.baseAddress! + end, buffer.count - end)
            if count < 0 {
                if errno == EINTR { continue }
                throw AuditorError.input(path: path, message: "cannot read: \(String(cString: strerror(errno)))")
            }
            if count == 0 { atEndOfFile = true } else { end += count }
            return
        }
    }

    private func readBuffer() -> UnsafeMutableBufferPointer<UInt8> {
        if let buffer { return buffer }
        let allocated = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: Self.chunkBytes)
        buffer = allocated
        return allocated
    }

    /// The next window, from the page that holds the first unread byte; after the mapped
    /// part of the file, read(2) from there on.
    private func advanceWindow() throws(AuditorError) {
        let position = windowOffset + start
        if fileShrank() { return try readOn(from: position) }
        guard windowOffset + end < mappedSize else {
            // The unread bytes (less than a line's longest part) move into the buffer, as
            // read(2) would have left them, and read(2) reads whatever the file has after.
            let count = end - start
            let buffer = readBuffer()
            if count > 0 { _ = memcpy(buffer.baseAddress!, window.bytes! + start, count) }
            mt_mapped_window_close(&window)
            try seek(to: mappedSize)
            start = 0
            end = count
            return
        }
        mt_mapped_window_close(&window)
        if !map(at: position) { try readOn(from: position) }
    }

    /// Maps the window that holds the file's byte `position` and all it can after it.
    private func map(at position: Int) -> Bool {
        let page = Int(mt_page_size())
        guard page > 0 else { return false }
        let offset = position / page * page
        let length = min(mappedSize - offset, max(policy.windowBytes, Self.chunkBytes + 2 * page) / page * page)
        guard length > 0, mt_mapped_window_open(&window, descriptor, off_t(offset), length) == 0 else {
            return false
        }
        bytes = window.bytes
        windowOffset = offset
        start = position - offset
        end = length
        return true
    }

    /// Whether the mapped file is no longer what was mapped: a read met a vanished page, or
    /// it is now shorter than the part mapped (the last page's tail then reads as zeros).
    private func fileShrank() -> Bool {
        if mt_mapped_window_faulted(&window) != 0 { return true }
        var status = stat()
        return fstat(descriptor, &status) == 0 && Int(status.st_size) < mappedSize
    }

    /// Leaves the mapping and reads from `position` with read(2): the file shrank, and the
    /// reader goes on with what it holds now, as read(2) would (nothing, if it ends sooner).
    private func readOn(from position: Int) throws(AuditorError) {
        mt_mapped_window_close(&window)
        try seek(to: position)
        start = 0
        end = 0
    }

    /// Moves read(2) to `position`, into the buffer.
    private func seek(to position: Int) throws(AuditorError) {
        bytes = UnsafePointer(readBuffer().baseAddress!)
        guard lseek(descriptor, off_t(position), SEEK_SET) >= 0 else {
            throw AuditorError.input(path: path, message: "cannot read: \(String(cString: strerror(errno)))")
        }
    }
}
