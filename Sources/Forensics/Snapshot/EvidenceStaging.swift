#if canImport(Glibc)
import Glibc
#endif
import MTCrypto

/// The private directory (mode 0700, beside the archive) where artifacts are written,
/// redacted and hashed as they stream in, before the archive is packed with every size
/// known. Removed, with everything in it, when the snapshot ends.
final class EvidenceStaging {
    let directory: String
    private var counter = 0
    let budget: ByteBudget

    struct StagedFile: Sendable {
        var archivePath: String
        var stagingPath: String
        var size: UInt64
        var sha256: String
    }

    init(inside outputDirectory: String, budget: ByteBudget) throws {
        let name = outputDirectory + "/.mtforensics-staging-" + SecureRandom.bytes(8).hexString
        guard mkdir(name, 0o700) == 0 else { throw ForensicsError.lastIO(name, "mkdir") }
        self.directory = name
        self.budget = budget
        InterruptCleanup.register(name, isDirectory: true)
    }

    func makeFile(for archivePath: String) throws -> StagingWriter {
        counter += 1
        return try StagingWriter(path: "\(directory)/\(counter)", archivePath: archivePath, budget: budget)
    }

    func remove() {
        Self.removeDirectory(directory)
        InterruptCleanup.unregister(directory)
    }

    static func removeDirectory(_ directory: String) {
        guard let handle = opendir(directory) else { return }
        while let entry = readdir(handle) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { unlink(directory + "/" + name) }
        }
        closedir(handle)
        rmdir(directory)
    }
}

/// The bytes a snapshot may still write. Shared by every artifact, so one huge log
/// cannot crowd out everything after it unnoticed: the artifact that hits the limit is
/// cut and marked, and the ones after it fail saying why.
final class ByteBudget {
    let limit: UInt64
    private(set) var used: UInt64 = 0

    init(limit: UInt64) {
        self.limit = limit
    }

    var remaining: UInt64 { limit - used }
    var isExhausted: Bool { used >= limit }

    func spend(_ count: UInt64) { used += count }
}

struct BudgetExhausted: Error {}

/// One artifact being written into the staging directory: counted, hashed, held to the budget.
final class StagingWriter {
    let path: String
    let archivePath: String
    private let output: FileOutput
    private let hashing: HashingSink
    private let budget: ByteBudget
    private(set) var truncated = false

    init(path: String, archivePath: String, budget: ByteBudget) throws {
        self.path = path
        self.archivePath = archivePath
        self.output = try FileOutput(creating: path)
        self.hashing = HashingSink(next: output)
        self.budget = budget
    }

    var size: UInt64 { hashing.count }

    /// Writes what the budget allows; throws `BudgetExhausted` after writing a cut part.
    func write(_ bytes: [UInt8]) throws {
        guard !bytes.isEmpty else { return }
        let allowed = Int(min(UInt64(bytes.count), budget.remaining))
        if allowed > 0 {
            try bytes.withUnsafeBytes { try hashing.write(UnsafeRawBufferPointer(rebasing: $0[..<allowed])) }
            budget.spend(UInt64(allowed))
        }
        if allowed < bytes.count {
            truncated = true
            throw BudgetExhausted()
        }
    }

    func finish() throws -> EvidenceStaging.StagedFile {
        try output.closeUnsynced()
        return EvidenceStaging.StagedFile(archivePath: archivePath, stagingPath: path, size: hashing.count,
                                          sha256: hashing.digest().hexString)
    }

    func discard() {
        try? output.closeUnsynced()
        unlink(path)
    }
}
