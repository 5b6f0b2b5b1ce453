import CFuzzerDriver
@testable import EventLog

@_cdecl("EventLineFuzz_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzz(data, size) }
}

/// One libFuzzer input: the first byte picks the kept fields, the rest is one line. The
/// line decoder (its fast path, then its general scanner) must give what the general
/// scanner alone gives, the same event or the same error; the fast path alone must accept
/// nothing the general scanner refuses or reads otherwise. The decoders live from input to
/// input, as a reader's decoder lives from line to line (its predictions, its last date).
nonisolated(unsafe) private var combined = EventLineDecoder()
nonisolated(unsafe) private var clean = EventLineDecoder()
nonisolated(unsafe) private var combinedEvent = Event(timestampMilliseconds: 0, action: "")
nonisolated(unsafe) private var cleanEvent = Event(timestampMilliseconds: 0, action: "")
private let fieldChoices: [EventFieldSet] = [.all, [], [.reason, .sourceIP, .sourceIPHash, .sourcePrefix], [.dc, .outcome, .transport, .sourcePort]]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let fields = fieldChoices[Int(data[0]) % fieldChoices.count]
    // A copy the size of the line exactly, so that AddressSanitizer sees any read past it.
    let line = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: size - 1)
    defer { line.deallocate() }
    _ = line.initialize(from: UnsafeBufferPointer(start: data + 1, count: size - 1))
    let bytes = UnsafeBufferPointer(line)

    var general = EventLineDecoder(keeping: fields)
    var generalEvent = Event(timestampMilliseconds: 0, action: "")
    let expected: Result<Event, EventDecodingError>
    do throws(EventDecodingError) {
        try general.decodeInFull(bytes, lineNumber: 5, into: &generalEvent)
        expected = .success(generalEvent)
    } catch {
        expected = .failure(error)
    }
    combined.fields = fields
    let found: Result<Event, EventDecodingError>
    do throws(EventDecodingError) {
        try combined.decode(bytes, lineNumber: 5, into: &combinedEvent)
        found = .success(combinedEvent)
    } catch {
        found = .failure(error)
    }
    precondition(found == expected, "decode differs from the general scanner")
    clean.fields = fields
    if clean.decodeClean(bytes, into: &cleanEvent) {
        precondition(expected == .success(cleanEvent), "the fast path accepted what the general scanner reads otherwise")
    }
    return 0
}
