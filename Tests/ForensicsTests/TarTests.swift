import Testing
@testable import Forensics

@Suite struct TarTests {
    static let paths = [
        "a.txt",
        String(repeating: "n", count: 100),
        "dir/" + String(repeating: "d", count: 120) + "/" + String(repeating: "f", count: 90),
        String(repeating: "x", count: 101),
        (0..<40).map { "segment\($0)" }.joined(separator: "/"),
        "unicode/événement-日本.jsonl",
    ]

    @Test(arguments: paths)
    func roundTripsPaths(path: String) throws {
        let bytes = try makeTar([(path, Array("content".utf8))])
        #expect(bytes.count % 512 == 0)
        #expect(UInt64(bytes.count) == TarWriter.archiveSize(files: [(path, 7)]))
        let entries = try readTar(bytes)
        #expect(entries.count == 1)
        #expect(entries[0].0.path == path)
        #expect(entries[0].1 == Array("content".utf8))
    }

    @Test(arguments: [0, 1, 511, 512, 513, 5000])
    func roundTripsSizes(size: Int) throws {
        var generator = SeededGenerator(seed: UInt64(size))
        let content = [UInt8].random(size, using: &generator)
        let bytes = try makeTar([("f", content), ("g", [1, 2, 3])])
        #expect(UInt64(bytes.count) == TarWriter.archiveSize(files: [("f", UInt64(size)), ("g", 3)]))
        let entries = try readTar(bytes)
        #expect(entries.map(\.0.path) == ["f", "g"])
        #expect(entries[0].1 == content)
        #expect(entries[0].0.size == UInt64(size))
    }

    @Test func gnuTarReadsWhatWeWrite() throws {
        let directory = try TemporaryDirectory()
        let files = Self.paths.enumerated().map { ($1, Array("file \($0)\n".utf8)) }
        try directory.write("archive.tar", try makeTar(files))
        let listing = try run(["tar", "-tf", directory.file("archive.tar")])
        #expect(listing.status == 0, "\(listing.error)")
        #expect(listing.text.split(separator: "\n").map(String.init) == Self.paths)
        let extract = try shell("mkdir out && tar -xf archive.tar -C out", directory: directory.path)
        #expect(extract.status == 0, "\(extract.error)")
        for (index, path) in Self.paths.enumerated() {
            #expect(try readBytes(directory.file("out/" + path)) == Array("file \(index)\n".utf8))
        }
    }

    @Test func readsWhatGNUTarWrites() throws {
        let directory = try TemporaryDirectory()
        try directory.write("in/" + String(repeating: "long", count: 40) + ".txt", "long name\n")
        try directory.write("in/short.txt", "short\n")
        let made = try shell("tar --format=pax -cf archive.tar -C in .", directory: directory.path)
        #expect(made.status == 0)
        let entries = try readTar(try readBytes(directory.file("archive.tar")))
        let files = entries.filter { $0.0.type == .regular }
        #expect(Set(files.map(\.0.path)) == ["./short.txt", "./" + String(repeating: "long", count: 40) + ".txt"])
    }

    @Test func headerChecksumMismatchIsNamedWithItsOffset() throws {
        var bytes = try makeTar([("first", Array(repeating: 65, count: 600)), ("second", [1])])
        bytes[1536 + 10] ^= 0x01  // the second header's name
        #expect {
            _ = try readTar(bytes)
        } throws: { error in
            guard case ForensicsError.damagedArchive(let reason, let offset, _) = error else { return false }
            return reason.contains("checksum") && offset == 1536
        }
    }

    @Test func truncatedArchiveNamesTheEntry() throws {
        let bytes = try makeTar([("events.jsonl", Array(repeating: 65, count: 5000))])
        #expect {
            _ = try readTar(Array(bytes[..<2000]))
        } throws: { error in
            guard case ForensicsError.damagedArchive(_, _, let entry) = error else { return false }
            return entry == "events.jsonl"
        }
    }

    @Test func missingEndBlocksAreAnError() throws {
        let bytes = try makeTar([("a", [1])])
        #expect(throws: ForensicsError.self) { _ = try readTar(Array(bytes.dropLast(1024))) }
        #expect(throws: ForensicsError.self) { _ = try readTar(Array(bytes.dropLast(512)) + Array(repeating: 7, count: 512)) }
    }

    @Test func trailingGarbageAfterTheEndIsAnError() throws {
        let bytes = try makeTar([("a", [1])])
        #expect(throws: ForensicsError.self) { _ = try readTar(bytes + [0, 0, 9]) }
        #expect(try readTar(bytes + Array(repeating: 0, count: 9216)).count == 1)
    }

    @Test func paxRecordsAreParsedStrictly() {
        #expect(TarFormat.parsePaxRecords(TarFormat.paxRecord(key: "path", value: "a/b")) == ["path": "a/b"])
        for length in 80...120 {
            let value = String(repeating: "x", count: length)
            let record = TarFormat.paxRecord(key: "path", value: value)
            #expect(record.starts(with: Array("\(record.count) ".utf8)))
            #expect(TarFormat.parsePaxRecords(record) == ["path": value])
        }
        #expect(TarFormat.parsePaxRecords(Array("9 path=a\n".utf8)) == ["path": "a"])
        for bad in ["11 path=a\n", "9 path=a ", "x path=a\n", "9 patha\n\n", "99999999999999999999 p=a\n", "3 =\n"] {
            #expect(TarFormat.parsePaxRecords(Array(bad.utf8)) == nil, "\(bad)")
        }
    }

    /// Random damage to a valid archive: the reader returns or throws, never crashes or hangs.
    @Test(arguments: 0..<4)
    func survivesMutatedArchives(seed: Int) throws {
        var generator = SeededGenerator(seed: UInt64(seed))
        let valid = try makeTar([("manifest.json", Array("{}".utf8)), (String(repeating: "p", count: 150), [UInt8].random(3000, using: &generator)),
                                 ("c", [])])
        for _ in 0..<300 {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...8, using: &generator) {
                let index = Int.random(in: 0..<bytes.count, using: &generator)
                bytes[index] = UInt8.random(in: 0...255, using: &generator)
            }
            if Bool.random(using: &generator) { bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &generator))) }
            _ = try? readTar(bytes)
        }
        for _ in 0..<200 {
            _ = try? readTar([UInt8].random(Int.random(in: 0...3000, using: &generator), using: &generator))
        }
    }

    @Test func hugePaxHeadersAreRefused() throws {
        var header = TarFormat.headerBlocks(path: "PaxHeaders/x", size: 1 << 21, mode: 0o600, modificationTime: 0, type: .paxExtended)
        header += Array(repeating: 0, count: 512)
        #expect(throws: ForensicsError.self) { _ = try readTar(header) }
    }
}
