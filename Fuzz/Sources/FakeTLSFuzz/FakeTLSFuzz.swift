import CFuzzerDriver
import MTCrypto
import NIOCore
import Proxy

@_cdecl("FakeTLSFuzz_main")
public func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments) { data, size in fuzz(data, size) }
}

/// One libFuzzer input: the first byte picks how the rest is cut into TCP segments, then
/// the bytes go through the ClientHello reader, the verifier, the flight builder for
/// anything accepted, the single-image parser and the record decoder. Any trap is a bug;
/// the invariants below turn silent mistakes into traps.
private let secrets = [ProxySecret(
    name: "fuzz", form: .faketls,
    key: [UInt8](hex: "367a189aee18fa31c190054efd4a8e95")!, domain: "storage.googleapis.com")]
private let verifier = ClientHelloVerifier()
private let replayFilter = ReplayFilter(configuration: .init(capacity: 1024, timeToLive: .minutes(30)))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size > 0 else { return 0 }
    let control = data[0]
    let bytes = Array(UnsafeBufferPointer(start: data + 1, count: size - 1))
    // 0 → one byte at a time (the worst case for reassembly), else segments of 2…2033 bytes.
    let segment = control == 0 ? 1 : Int(control & 0x7f) * 16 + 2

    var handshake = FakeTLSHandshake(
        secrets: secrets, settings: FakeTLSSettings(), replayFilter: replayFilter)
    var reader = ClientHelloReader()
    var start = 0
    while start < bytes.count {
        let end = min(bytes.count, start + segment)
        let chunk = ByteBuffer(bytes: bytes[start..<end])
        start = end
        let action = handshake.received(chunk, unixTime: 1_617_181_365, now: .uptimeNanoseconds(1_000_000_000))
        switch reader.read(chunk) {
        case .needMoreBytes:
            guard case .readMore = action else { fatalError("the handshake decided before its reader") }
            continue
        case .notTLS(let received), .malformed(_, let received):
            precondition(Array(buffer: received) == Array(bytes[0..<received.readableBytes]))
        case .hello(let hello, let received, let trailing):
            precondition(received.readableBytes + trailing.readableBytes == end)
            precondition(hello.signedImage.count >= ClientHelloReader.minimumHelloLength + 5)
            if case .accepted(let accepted) = verifier.verify(hello, secrets: secrets, now: 1_617_181_365) {
                let flight = ServerHelloFlight.make(for: accepted, settings: FakeTLSSettings())
                precondition(FakeTLSClient.checkFlight(flight, clientRandom: hello.random, key: secrets[0].key)
                    == .verified(length: flight.count))
            }
        }
        break
    }

    if let hello = try? ClientHello.parse(image: bytes) {
        precondition(hello.random.count == 32 && hello.sessionID.count <= 32)
    }

    var decoder = FakeTLSRecordDecoder()
    var output = ByteBuffer()
    start = 0
    while start < bytes.count {
        let end = min(bytes.count, start + segment)
        var input = ByteBuffer(bytes: bytes[start..<end])
        start = end
        do {
            try decoder.decode(&input, into: &output)
        } catch {
            precondition(error.code == .malformed && (error.offset ?? -1) < bytes.count)
            break
        }
        precondition(input.readableBytes == 0 && output.readableBytes <= end)
    }
    return 0
}
