import ArgumentParser
import Auditor
import EventLog

#if canImport(Glibc)
import Glibc
#endif

/// Nanoseconds per line from file bytes to `Event`: through `EventFileReader` (reading and
/// decoding, as `mtauditor replay` does before its rules), and through `EventLineDecoder`
/// alone over lines already in memory (decoding only). Times are the thread's CPU time, as
/// the machine is shared. Benchmarks/auditor/README.md.
@main
struct EventDecode: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "event-decode",
        abstract: "Read and decode an event log; print nanoseconds per line.")

    @Option(help: "Keep the fields these rules read (RuleEngine.neededFields), as `mtauditor replay --rules DIR` does.")
    var rules: String?

    @Option(help: "Keep these fields instead: `all`, `none`, or a comma-separated list of event keys (source.ip,event.reason,…).")
    var keep: String?

    @Option(help: "Runs of each measurement; the fastest is printed.")
    var runs = 5

    @Flag(help: "Only decode, from memory (for a profile of the decoder alone).")
    var decodeOnly = false

    @Argument(help: "An event log (JSON Lines).")
    var file: String

    func validate() throws {
        guard runs > 0 else { throw ValidationError("--runs is positive") }
        guard (rules == nil) != (keep == nil) else { throw ValidationError("give --rules DIR or --keep FIELDS") }
    }

    func run() throws {
        let fields = try keptFields()
        print("kept fields: \(Self.names(fields).joined(separator: ","))")

        var best = Int.max
        var counts = (lines: 0, events: 0, malformed: 0)
        for _ in 0..<(decodeOnly ? 0 : runs) {
            let reader = try EventFileReader(path: file)
            reader.fields = fields
            var event = Event(timestampMilliseconds: 0, action: "")
            var events = 0, malformed = 0, lastLine = 0
            let started = Self.cpuNanoseconds()
            while let found = try reader.next(into: &event) {
                switch found {
                case .event(let line): events += 1; lastLine = line
                case .malformed(let error): malformed += 1; lastLine = error.line
                }
            }
            best = min(best, Self.cpuNanoseconds() - started)
            counts = (lastLine, events, malformed)
        }
        if !decodeOnly {
            print("read+decode: \(counts.lines) lines, \(counts.events) events, \(counts.malformed) malformed: "
                  + "\(Self.milliseconds(best)) ms of CPU, \(Self.perLine(best, counts.lines)) ns/line")
        }

        let lines = try Self.lines(of: file)
        var decodeBest = Int.max
        var decodeFailures = 0
        // Lines are decoded from a buffer of about 1 MiB, as the reader hands them over, so
        // that the figure is the decoder's and not that of fetching 300 MB from memory; the
        // copy into the buffer is not timed.
        let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: Self.blockBytes + Event.maximumLineBytes)
        defer { buffer.deallocate() }
        for _ in 0..<runs {
            var decoder = EventLineDecoder(keeping: fields)
            var event = Event(timestampMilliseconds: 0, action: "")
            var failures = 0, spent = 0, first = 0
            while first < lines.ranges.count {
                var last = first
                let base = lines.ranges[first].lowerBound
                while last < lines.ranges.count, lines.ranges[last].upperBound - base <= Self.blockBytes { last += 1 }
                last = max(last, first + 1)
                let count = lines.ranges[last - 1].upperBound - base
                lines.bytes.withUnsafeBufferPointer { bytes in
                    _ = memcpy(buffer.baseAddress!, bytes.baseAddress! + base, min(count, buffer.count))
                }
                let started = Self.cpuNanoseconds()
                for number in first..<last {
                    let range = lines.ranges[number]
                    let line = UnsafeBufferPointer(start: buffer.baseAddress! + (range.lowerBound - base), count: min(range.count, buffer.count))
                    do throws(EventDecodingError) {
                        try decoder.decode(line, lineNumber: number + 1, into: &event)
                    } catch {
                        failures += 1
                    }
                }
                spent += Self.cpuNanoseconds() - started
                first = last
            }
            decodeBest = min(decodeBest, spent)
            decodeFailures = failures
        }
        print("decode only: \(lines.ranges.count) lines from a 1 MiB buffer, \(decodeFailures) malformed: "
              + "\(Self.milliseconds(decodeBest)) ms of CPU, \(Self.perLine(decodeBest, lines.ranges.count)) ns/line")
    }

    static let blockBytes = 1 << 20

    func keptFields() throws -> EventFieldSet {
        if let rules { return RuleEngine(rules: try RuleDirectory.load(path: rules)).neededFields }
        switch keep {
        case "all": return .all
        case "none", "": return []
        default:
            var fields: EventFieldSet = []
            for name in keep!.split(separator: ",") {
                guard let field = Self.fieldNames.first(where: { $0.name == name }) else {
                    throw ValidationError("unknown field \(name)")
                }
                fields.insert(field.field)
            }
            return fields
        }
    }

    static let fieldNames: [(name: String, field: EventFieldSet)] = [
        ("event.outcome", .outcome), ("event.reason", .reason), ("source.ip", .sourceIP), ("source.port", .sourcePort),
        ("source.ip_hash", .sourceIPHash), ("source.prefix", .sourcePrefix), ("session.id", .sessionID),
        ("proxy.instance", .instance), ("proxy.listener", .listener), ("proxy.transport", .transport),
        ("mt.secret", .secretName), ("mt.dc", .dc), ("network.bytes_in", .bytesIn), ("network.bytes_out", .bytesOut),
        ("event.duration_ms", .duration), ("message", .message), ("labels.*", .labels),
    ]

    static func names(_ fields: EventFieldSet) -> [String] {
        fieldNames.filter { fields.contains($0.field) }.map(\.name)
    }

    /// The file's bytes and its non-blank lines (without their newline).
    static func lines(of path: String) throws -> (bytes: [UInt8], ranges: [Range<Int>]) {
        guard let file = fopen(path, "rb") else { throw ValidationError("cannot open \(path)") }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count == 0 { break }
            bytes.append(contentsOf: chunk[..<count])
        }
        var ranges: [Range<Int>] = []
        var start = 0
        for index in bytes.indices where bytes[index] == 0x0A {
            if index > start { ranges.append(start..<index) }
            start = index + 1
        }
        if start < bytes.count { ranges.append(start..<bytes.count) }
        return (bytes, ranges)
    }

    static func cpuNanoseconds() -> Int {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return time.tv_sec * 1_000_000_000 + time.tv_nsec
    }

    static func milliseconds(_ nanoseconds: Int) -> String {
        String((Double(nanoseconds) / 100_000).rounded() / 10)
    }

    static func perLine(_ nanoseconds: Int, _ lines: Int) -> String {
        String(Int((Double(nanoseconds) / Double(max(lines, 1))).rounded()))
    }
}
