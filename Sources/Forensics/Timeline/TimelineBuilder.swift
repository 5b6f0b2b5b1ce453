import EventLog
import Foundation

/// Merges proxy events, auditor findings and runbook journal entries from files and
/// evidence archives into one timeline ordered by time. A line that cannot be read is
/// reported with its file and line and skipped; the rest of the timeline still comes.
public struct TimelineBuilder {
    public enum InputKind: String, Sendable, CaseIterable {
        /// Proxy events, JSON Lines.
        case events
        /// Auditor output, JSON Lines: `{"type":"alert",…}` and `{"type":"decision",…}`
        /// as `mtauditor replay` and `mtauditor decisions list --json` print them.
        case auditor
        /// A runbook journal (`incidents/ID/journal.jsonl`).
        case journal
    }

    public struct Problem: Sendable, Hashable, CustomStringConvertible {
        public var origin: String
        public var message: String
        public var description: String { "\(origin): \(message)" }
    }

    public let query: TimelineQuery
    public private(set) var entries: [TimelineEntry] = []
    public private(set) var problems: [Problem] = []
    /// Lines read, kept or not.
    public private(set) var linesRead = 0
    /// Problems beyond this many are counted, not kept.
    public var problemLimit = 1000
    public private(set) var problemsNotKept = 0
    /// Auditor state databases found in archives, copied out to temporary files (the
    /// caller reads them with the auditor's store and removes them): archive entry → copy.
    public private(set) var auditorDatabases: [(entry: String, copy: String)] = []

    public init(query: TimelineQuery) {
        self.query = query
    }

    /// Adds a file on disk.
    public mutating func add(file path: String, as kind: InputKind) throws(ForensicsError) {
        let input: FileInput
        do {
            input = try FileInput(path: path)
        } catch let error as ForensicsError {
            throw error
        } catch {
            throw .codec("\(error)")
        }
        do {
            try read(input, name: path, as: kind)
        } catch let error as ForensicsError {
            throw error
        } catch {
            throw .lastIO(path, "read")
        }
    }

    /// Adds every file of an evidence archive that a timeline can use: proxy events
    /// (`proxy/*.jsonl`), auditor output (`auditor/*.jsonl`) and runbook journals
    /// (`*journal.jsonl`). Returns the archive paths it read.
    @discardableResult
    public mutating func add(archive path: String) throws(ForensicsError) -> [String] {
        var used: [String] = []
        do {
            let reader = try EvidenceArchiveReader(path: path)
            while let entry = try reader.tar.next() {
                if entry.type == .regular, entry.path.hasPrefix("auditor/"), entry.path.hasSuffix(".sqlite") {
                    used.append(entry.path)
                    auditorDatabases.append((path + ":" + entry.path, try Self.copyOut(reader)))
                    continue
                }
                guard entry.type == .regular, let kind = Self.kind(ofArchivePath: entry.path) else { continue }
                used.append(entry.path)
                try read(ArchiveEntrySource(reader: reader), name: path + ":" + entry.path, as: kind)
            }
        } catch let error as ForensicsError {
            throw error
        } catch {
            throw .codec("\(path): \(error)")
        }
        return used
    }

    /// A decision from an auditor state database, kept if the query keeps it.
    public mutating func add(decisionOf value: String, created: Int64, details: [TimelineEntry.Detail], origin: String) {
        if query.keeps(auditorValue: value, time: created) {
            entries.append(TimelineEntry(time: created, source: .auditor, kind: "decision", subject: value, details: details, origin: origin))
        }
    }

    private static func copyOut(_ reader: EvidenceArchiveReader) throws -> String {
        var template = Array("/tmp/mtforensics-timeline-XXXXXX".utf8CString)
        let descriptor = mkstemp(&template)
        guard descriptor >= 0 else { throw ForensicsError.lastIO("/tmp", "mkstemp") }
        defer { close(descriptor) }
        let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        try reader.readContent { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
                guard written > 0 else { throw ForensicsError.lastIO(path, "write") }
                offset += written
            }
        }
        return path
    }

    /// Which archive entries the timeline reads, and as what.
    static func kind(ofArchivePath path: String) -> InputKind? {
        guard path.hasSuffix(".jsonl") else { return nil }
        if path.hasSuffix("journal.jsonl") { return .journal }
        if path.hasPrefix("proxy/") { return .events }
        if path.hasPrefix("auditor/") { return .auditor }
        return nil
    }

    /// The entries in time order; entries with the same time keep the order they were read in.
    public func ordered() -> [TimelineEntry] {
        entries.enumerated().sorted { lhs, rhs in
            lhs.element.time != rhs.element.time ? lhs.element.time < rhs.element.time : lhs.offset < rhs.offset
        }.map(\.element)
    }

    // MARK: Reading

    private mutating func read(_ source: ByteSource, name: String, as kind: InputKind) throws {
        let maximumLine = Event.maximumLineBytes * 16
        var lines = LineSplitter(maximumLine: maximumLine)
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        while true {
            let count = try buffer.withUnsafeMutableBytes { try source.read(into: $0) }
            if count == 0 { break }
            buffer.withUnsafeBytes { bytes in
                lines.feed(UnsafeRawBufferPointer(rebasing: bytes[..<count])) { line, number in
                    take(line, number: number, name: name, as: kind)
                } tooLong: { number in
                    note(Problem(origin: "\(name):\(number)", message: "line longer than \(maximumLine) bytes; skipped"))
                }
            }
        }
        lines.finish { line, number in take(line, number: number, name: name, as: kind) }
    }

    private mutating func take(_ line: ArraySlice<UInt8>, number: Int, name: String, as kind: InputKind) {
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return }
        linesRead += 1
        let origin = "\(name):\(number)"
        switch kind {
        case .events:
            do {
                let event = try line.withUnsafeBufferPointer { buffer throws(EventDecodingError) in
                    try Event(jsonLine: buffer, lineNumber: number)
                }
                if query.keeps(event) { entries.append(TimelineEntry(event: event, origin: origin)) }
            } catch {
                note(Problem(origin: origin, message: (error.field.map { "field \($0): " } ?? "") + error.message))
            }
        case .auditor, .journal:
            guard case .object(let object)? = try? JSONDecoder().decode(JSONValue.self, from: Data(line)) else {
                note(Problem(origin: origin, message: "not a JSON object"))
                return
            }
            let entry = kind == .auditor ? Self.auditorEntry(object, origin: origin) : Self.journalEntry(object, origin: origin)
            switch entry {
            case .success(let entry):
                let keep = kind == .journal ? query.keeps(time: entry.time) : query.keeps(auditorValue: entry.subject, time: entry.time)
                if keep { entries.append(entry) }
            case .failure(let problem):
                note(Problem(origin: origin, message: problem.message))
            }
        }
    }

    private mutating func note(_ problem: Problem) {
        if problems.count < problemLimit { problems.append(problem) } else { problemsNotKept += 1 }
    }

    struct LineProblem: Error {
        var message: String
    }

    // MARK: Auditor and journal lines

    static func auditorEntry(_ object: [String: JSONValue], origin: String) -> Result<TimelineEntry, LineProblem> {
        guard let type = object["type"]?.text else { return .failure(LineProblem(message: "field type: missing")) }
        switch type {
        case "decision":
            guard let value = object["value"]?.text else { return .failure(LineProblem(message: "field value: missing")) }
            guard let created = object["created"]?.time else { return .failure(LineProblem(message: "field created: missing or not a time")) }
            let details = scalars(object, skipping: ["type", "value", "created"])
            return .success(TimelineEntry(time: created, source: .auditor, kind: "decision", subject: value, details: details, origin: origin))
        case "alert":
            guard let at = object["time"]?.time else { return .failure(LineProblem(message: "field time: missing or not a time")) }
            var subject: String?
            var details = scalars(object, skipping: ["type", "time", "group"])
            if case .object(let group)? = object["group"] {
                for key in group.keys.sorted() {
                    guard let value = group[key]?.scalar else { continue }
                    if subject == nil, key.hasPrefix("source.") { subject = value }
                    details.append(.init("group." + key, value))
                }
            }
            return .success(TimelineEntry(time: at, source: .auditor, kind: "alert", subject: subject, details: details, origin: origin))
        default:
            return .failure(LineProblem(message: "field type: \"\(type)\" is neither alert nor decision"))
        }
    }

    static func journalEntry(_ object: [String: JSONValue], origin: String) -> Result<TimelineEntry, LineProblem> {
        guard let at = object["time"]?.time else { return .failure(LineProblem(message: "field time: missing or not a time")) }
        let kind = object["kind"]?.text ?? object["event"]?.text ?? object["type"]?.text ?? "journal"
        let details = scalars(object, skipping: ["time", "kind", "event", "type", "hash", "prev", "prev_hash", "previous_hash"])
        return .success(TimelineEntry(time: at, source: .journal, kind: kind, subject: nil, details: details, origin: origin))
    }

    /// The object's scalar fields, sorted by name, nested objects flattened one level.
    private static func scalars(_ object: [String: JSONValue], skipping: Set<String>) -> [TimelineEntry.Detail] {
        var details: [TimelineEntry.Detail] = []
        for key in object.keys.sorted() where !skipping.contains(key) {
            switch object[key]! {
            case .object(let nested):
                for inner in nested.keys.sorted() {
                    if let value = nested[inner]?.scalar { details.append(.init(key + "." + inner, value)) }
                }
            case .array(let list):
                let items = list.compactMap { item -> String? in
                    guard case .object(let fields) = item else { return item.scalar }
                    return fields.keys.sorted().compactMap { name in fields[name]?.scalar.map { "\(name)=\($0)" } }.joined(separator: ";")
                }
                details.append(.init(key, items.joined(separator: ",")))
            case let value:
                if let text = value.scalar { details.append(.init(key, text)) }
            }
        }
        return details
    }
}

/// Any JSON value, for lines whose fields are read by name.
enum JSONValue: Decodable, Sendable, Hashable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    var text: String? {
        if case .string(let value) = self { value } else { nil }
    }

    var scalar: String? {
        switch self {
        case .bool(let value): String(value)
        case .integer(let value): String(value)
        case .number(let value): String(value)
        case .string(let value): value
        case .null, .array, .object: nil
        }
    }

    /// An RFC 3339 string or a count of milliseconds since the epoch.
    var time: Int64? {
        switch self {
        case .string(let value): RFC3339.milliseconds(Array(value.utf8))
        case .integer(let value): value
        default: nil
        }
    }
}

/// The current archive entry's content as a byte source.
private final class ArchiveEntrySource: ByteSource {
    private let reader: EvidenceArchiveReader

    init(reader: EvidenceArchiveReader) {
        self.reader = reader
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try reader.tar.readContent(into: buffer)
    }
}

/// Splits a byte stream into lines, numbering them from 1; a line longer than
/// `maximumLine` is reported and skipped, not kept whole in memory.
struct LineSplitter {
    let maximumLine: Int
    private var pending: [UInt8] = []
    private var skipping = false
    private var number = 0

    init(maximumLine: Int) {
        self.maximumLine = maximumLine
    }

    mutating func feed(_ chunk: UnsafeRawBufferPointer, line: (ArraySlice<UInt8>, Int) -> Void, tooLong: (Int) -> Void) {
        var start = 0
        while start < chunk.count {
            guard let newline = chunk[start...].firstIndex(of: 0x0A) else {
                if !skipping {
                    pending.append(contentsOf: chunk[start...])
                    if pending.count > maximumLine {
                        skipping = true
                        pending.removeAll(keepingCapacity: false)
                        tooLong(number + 1)
                    }
                }
                return
            }
            number += 1
            if skipping {
                skipping = false
            } else if pending.isEmpty {
                let bytes = Array(chunk[start..<newline])
                if bytes.count > maximumLine { tooLong(number) } else { line(bytes[...], number) }
            } else {
                pending.append(contentsOf: chunk[start..<newline])
                if pending.count > maximumLine { tooLong(number) } else { line(pending[...], number) }
                pending.removeAll(keepingCapacity: true)
            }
            start = newline + 1
        }
    }

    mutating func finish(line: (ArraySlice<UInt8>, Int) -> Void) {
        if !skipping, !pending.isEmpty {
            number += 1
            line(pending[...], number)
        }
        pending.removeAll()
        skipping = false
    }
}
