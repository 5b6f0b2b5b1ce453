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
    public var fields: EventFieldSet {
        get { decoder.fields }
        set { decoder.fields = newValue }
    }
    private var decoder = EventLineDecoder()
    private let descriptor: Int32
    /// Filled by large reads; lines are decoded where they lie, never copied.
    private let buffer: UnsafeMutableBufferPointer<UInt8>
    private var start = 0
    private var end = 0
    private var atEndOfFile = false
    private var lineNumber = 0
    /// Set after a line filled the whole buffer: the rest of it is dropped.
    private var skippingRestOfLine = false
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
        buffer = .allocate(capacity: Self.chunkBytes)
    }

    deinit {
        buffer.deallocate()
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
    private func newline(from position: Int) -> Int? {
        guard position < end, let base = buffer.baseAddress,
              let found = memchr(base + position, 0x0A, end - position) else { return nil }
        return base.distance(to: found.assumingMemoryBound(to: UInt8.self))
    }

    private func line(_ from: Int, _ to: Int) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: buffer[from..<to])
    }

    private func nextLine() throws(AuditorError) -> UnsafeBufferPointer<UInt8>? {
        while true {
            if skippingRestOfLine {
                if let newline = newline(from: start) {
                    start = newline + 1
                    skippingRestOfLine = false
                } else {
                    start = end
                }
            }
            if !skippingRestOfLine, let newline = newline(from: start) {
                defer { start = newline + 1 }
                return line(start, newline)
            }
            if atEndOfFile {
                guard start < end, !skippingRestOfLine else { return nil }
                defer { start = end }
                return line(start, end)
            }
            if start > 0 {
                let count = end - start
                if count > 0 { _ = memmove(buffer.baseAddress!, buffer.baseAddress! + start, count) }
                end -= start
                start = 0
            }
            if end == buffer.count {
                // A line longer than the whole buffer: hand over its start, which the
                // decoder rejects as too long, and drop the rest, so memory stays bounded.
                skippingRestOfLine = true
                defer { start = end }
                return line(start, end)
            }
            let count = read(descriptor, buffer.baseAddress! + end, buffer.count - end)
            if count < 0 {
                if errno == EINTR { continue }
                throw AuditorError.input(path: path, message: "cannot read: \(String(cString: strerror(errno)))")
            }
            if count == 0 { atEndOfFile = true } else { end += count }
        }
    }
}
