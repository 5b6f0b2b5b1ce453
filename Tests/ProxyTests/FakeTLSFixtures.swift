import Foundation
import MTCrypto
import NIOCore
import Testing
@testable import Proxy

/// Recorded hellos from mtg (Fixtures/client-hello-*.json, see Fixtures/LICENSE).
struct RecordedHello: Sendable, CustomTestStringConvertible {
    var name: String
    var time: Int64
    var random: [UInt8]
    var sessionID: [UInt8]
    var host: String
    var cipherSuite: UInt16
    var full: [UInt8]
    var shouldAccept: Bool { name.hasPrefix("client-hello-ok") }
    var testDescription: String { name }

    static let secret = ProxySecret(
        name: "fixtures", form: .faketls,
        key: [UInt8](hex: "367a189aee18fa31c190054efd4a8e95")!, domain: "storage.googleapis.com")

    static let all: [RecordedHello] = {
        let directory = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasPrefix("client-hello-") && $0.hasSuffix(".json") }.sorted().map { name in
            let data = try! Data(contentsOf: directory.appendingPathComponent(name))
            let json = try! JSONSerialization.jsonObject(with: data) as! [String: Any]
            return RecordedHello(
                name: name, time: (json["time"] as! NSNumber).int64Value,
                random: base64(json["random"]), sessionID: base64(json["sessionId"]),
                host: json["host"] as! String, cipherSuite: UInt16((json["cipherSuite"] as! NSNumber).intValue),
                full: base64(json["full"]))
        }
    }()

    private static func base64(_ value: Any?) -> [UInt8] {
        var text = value as! String
        while text.count % 4 != 0 { text += "=" }
        return [UInt8](Data(base64Encoded: text)!)
    }
}


enum HelloWire {
    /// Splits a single-record hello into records whose payloads have the given sizes
    /// (the last takes the rest), each with the first record's header bytes.
    static func fragment(_ record: [UInt8], payloadSizes: [Int]) -> [UInt8] {
        let payload = Array(record[5...])
        var out: [UInt8] = []
        var start = 0
        for (index, size) in payloadSizes.enumerated() {
            let end = index == payloadSizes.count - 1 ? payload.count : min(payload.count, start + size)
            out += record[0..<3] + [UInt8((end - start) >> 8), UInt8((end - start) & 0xff)] + payload[start..<end]
            start = end
        }
        return out
    }

    /// Random payload sizes that split `record` over exactly `count` records.
    static func randomSizes(_ record: [UInt8], count: Int, using generator: inout SeededGenerator) -> [Int] {
        let total = record.count - 5
        var cuts = Set<Int>()
        while cuts.count < count - 1 { cuts.insert(Int.random(in: 1..<total, using: &generator)) }
        let points = [0] + cuts.sorted() + [total]
        return zip(points.dropFirst(), points).map { $0 - $1 }
    }

    /// Feeds `bytes` to a fresh reader in the given chunk sizes (the last chunk takes the
    /// rest) and returns the first answer that is not `needMoreBytes`.
    static func read(_ bytes: [UInt8], chunks: [Int]) -> ClientHelloReader.Step {
        var reader = ClientHelloReader()
        var start = 0
        for (index, size) in chunks.enumerated() {
            let end = index == chunks.count - 1 ? bytes.count : min(bytes.count, start + size)
            let step = reader.read(ByteBuffer(bytes: bytes[start..<end]))
            start = end
            if case .needMoreBytes = step { continue }
            return step
        }
        return .needMoreBytes
    }

    static func hello(_ step: ClientHelloReader.Step) -> ClientHello? {
        if case .hello(let hello, _, _) = step { return hello }
        return nil
    }

    static func malformation(_ step: ClientHelloReader.Step) -> FakeTLSError? {
        if case .malformed(let error, _) = step { return error }
        return nil
    }
}
