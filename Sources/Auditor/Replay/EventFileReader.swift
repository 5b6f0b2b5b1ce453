#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import EventLog

/// Reads an event file (or standard input, `-`) line by line and decodes each line.
/// A malformed line is returned as its error and the reader carries on after it.
public final class EventFileReader {
    public enum Item: Sendable {
        case event(Event, line: Int)
        case malformed(EventDecodingError)
    }

    public let path: String
    /// The fields decoded into each event; the others are checked but not kept.
    public var fields: EventFieldSet = .all
    private let descriptor: Int32
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0
    private var atEndOfFile = false
    private var lineNumber = 0
    /// Set after a line filled the whole buffer: the rest of it is dropped.
    private var skippingRestOfLine = false
    /// Large reads amortise the system calls; lines are decoded where they lie in the buffer.
    static let chunkBytes = 1 << 20

    public init(path: String) throws(AuditorError) {
        self.path = path
        if path == "-" {
            descriptor = 0
        } else {
            descriptor = open(path, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0 else {
                throw AuditorError.input(path: path, message: "cannot open: \(String(cString: strerror(errno)))")
            }
        }
        buffer = [UInt8](repeating: 0, count: Self.chunkBytes)
    }

    deinit {
        if descriptor > 0 { close(descriptor) }
    }

    /// The next event or malformed line; nil at the end of the input. Blank lines are skipped.
    public func next() throws(AuditorError) -> Item? {
        let fields = fields
        while true {
            guard let (lineStart, lineEnd) = try nextLine() else { return nil }
            lineNumber += 1
            let isBlank = buffer[lineStart..<lineEnd].allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
            if isBlank { continue }
            let number = lineNumber
            let decoded = buffer.withUnsafeBufferPointer { all -> Result<Event, EventDecodingError> in
                do throws(EventDecodingError) {
                    return .success(try Event(jsonLine: UnsafeBufferPointer(rebasing: all[lineStart..<lineEnd]), lineNumber: number,
                                                keeping: fields))
                } catch {
                    return .failure(error)
                }
            }
            switch decoded {
            case .success(let event): return .event(event, line: number)
            case .failure(var error):
                error.file = path
                return .malformed(error)
            }
        }
    }

    /// memchr: the scan for line ends is the reader's inner loop.
    private func newlineIndex(from position: Int) -> Int? {
        guard position < end else { return nil }
        return buffer.withUnsafeBytes { raw -> Int? in
            guard let found = memchr(raw.baseAddress! + position, 0x0A, end - position) else { return nil }
            return raw.baseAddress!.distance(to: UnsafeRawPointer(found))
        }
    }

    private func nextLine() throws(AuditorError) -> (Int, Int)? {
        while true {
            if skippingRestOfLine {
                if let newline = buffer[start..<end].firstIndex(of: 0x0A) {
                    start = newline + 1
                    skippingRestOfLine = false
                } else {
                    start = end
                }
            }
            if !skippingRestOfLine, let newline = newlineIndex(from: start) {
                defer { start = newline + 1 }
                return (start, newline)
            }
            if atEndOfFile {
                guard start < end, !skippingRestOfLine else { return nil }
                defer { start = end }
                return (start, end)
            }
            if start > 0 {
                buffer.withUnsafeMutableBufferPointer { all in
                    let count = end - start
                    if count > 0 { _ = memmove(all.baseAddress!, all.baseAddress! + start, count) }
                }
                end -= start
                start = 0
            }
            if end == buffer.count {
                // A line longer than the whole buffer: hand over its start, which the
                // decoder rejects as too long, and drop the rest, so memory stays bounded.
                skippingRestOfLine = true
                defer { start = end }
                return (start, end)
            }
            let count = buffer.withUnsafeMutableBytes { raw in
                read(descriptor, raw.baseAddress! + end, raw.count - end)
            }
            if count < 0 {
                if errno == EINTR { continue }
                throw AuditorError.input(path: path, message: "cannot read: \(String(cString: strerror(errno)))")
            }
            if count == 0 { atEndOfFile = true } else { end += count }
        }
    }
}
