import Foundation
@testable import Forensics

/// A directory under /tmp removed when the value goes away.
final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/mtforensics-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw ForensicsError.lastIO("/tmp", "mkdtemp") }
        path = String(cString: made)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }

    @discardableResult
    func write(_ name: String, _ text: String) throws -> String {
        try write(name, Array(text.utf8))
    }

    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let full = file(name)
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: full))
        return full
    }
}

struct ToolRun {
    var status: Int32
    var output: [UInt8]
    var error: String
    var text: String { String(decoding: output, as: UTF8.self) }
}

/// Runs a real tool (`/bin/sh -c` when given a shell line) and collects its output.
func run(_ arguments: [String], input: [UInt8]? = nil, directory: String? = nil) throws -> ToolRun {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let stdout = Pipe()
    let stderr = Pipe()
    let stdin = Pipe()
    process.standardOutput = stdout
    process.standardError = stderr
    process.standardInput = input == nil ? FileHandle.nullDevice : stdin
    try process.run()
    if let input {
        try stdin.fileHandleForWriting.write(contentsOf: Data(input))
        try stdin.fileHandleForWriting.close()
    }
    let errorBox = ErrorBox()
    let group = DispatchGroup()
    DispatchQueue.global().async(group: group) { errorBox.data = stderr.fileHandleForReading.readDataToEndOfFile() }
    let output = stdout.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    let errorData = errorBox.data
    process.waitUntilExit()
    return ToolRun(status: process.terminationStatus, output: Array(output), error: String(decoding: errorData, as: UTF8.self))
}

final class ErrorBox: @unchecked Sendable {
    var data = Data()
}

func shell(_ line: String, directory: String? = nil) throws -> ToolRun {
    try run(["bash", "-c", line], directory: directory)
}

func readBytes(_ path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

/// A deterministic generator for property and fuzz tests.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9e37_79b9_7f4a_7c15 }
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

extension Array where Element == UInt8 {
    static func random(_ count: Int, using generator: inout SeededGenerator) -> [UInt8] {
        (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
    }
}

/// Reads every entry of a tar stream held in memory.
func readTar(_ bytes: [UInt8]) throws -> [(TarEntry, [UInt8])] {
    let reader = TarReader(source: MemorySource(bytes))
    var result: [(TarEntry, [UInt8])] = []
    while let entry = try reader.next() {
        var content: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = try buffer.withUnsafeMutableBytes { try reader.readContent(into: $0) }
            if count == 0 { break }
            content += buffer[..<count]
        }
        result.append((entry, content))
    }
    return result
}

func makeTar(_ files: [(String, [UInt8])]) throws -> [UInt8] {
    let sink = MemorySink()
    let writer = TarWriter(sink: sink)
    for (path, contents) in files {
        try writer.addFile(path: path, contents: contents, modificationTime: 1_700_000_000)
    }
    try writer.finish()
    return sink.bytes
}
