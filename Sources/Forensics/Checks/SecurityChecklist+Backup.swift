import Foundation
import MTCrypto
#if canImport(Glibc)
import Glibc
#endif

extension SecurityChecklist {
    static let backupFix = "make backup (writes backups/mtshield-YYYYmmdd-HHMMSS.tar.lz4, its .sha256 and the `latest` link)"

    /// `latest` in the backup directory names an archive that matches its `.sha256`
    /// sidecar, is private (mode 0600) and is younger than `backupMaximumAge`.
    static func backupRecent(_ inputs: CheckInputs) -> Finding {
        let context = inputs.context
        guard let directory = context.backupDirectory else {
            return .unknown("no backup directory given", fix: "pass --backups DIR (where `make backup` writes)")
        }
        let latest = directory + "/latest"
        guard SystemFiles.linkStatus(latest) != nil else {
            return .fail("no backup: \(latest) does not exist", fix: backupFix)
        }
        let archive: String
        if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: latest) {
            archive = target.hasPrefix("/") ? target : directory + "/" + target
        } else if let named = SystemFiles.text(latest, limit: 4096)?.trimmingASCIIWhitespace, !named.isEmpty, !named.contains("\n") {
            archive = named.hasPrefix("/") ? named : directory + "/" + named
        } else {
            return .fail("\(latest) names no archive", fix: backupFix)
        }
        let name = (archive as NSString).lastPathComponent
        guard let info = SystemFiles.status(archive) else {
            return .fail("\(latest) points to \(name), which does not exist", fix: backupFix)
        }
        var parts: [Finding] = []
        switch verifySidecar(archive: archive) {
        case .success:
            parts.append(.pass("SHA-256 matches its .sha256"))
        case .failure(let failure):
            parts.append(.fail("\(name): \(failure)", fix: backupFix))
        }
        if info.st_mode & 0o077 != 0 {
            parts.append(.fail("\(name) is readable by others (mode \(SystemFiles.octal(info.st_mode))); it holds the secrets",
                               fix: "chmod 0600 \(archive)"))
        }
        let taken = backupTime(name: name) ?? SystemFiles.modificationDate(info)
        let age = context.now.timeIntervalSince(taken)
        let limit = Double(context.backupMaximumAge.components.seconds)
        let ageText = age < 86_400 ? "\(Int(age / 3600)) h" : "\(Int(age / 86_400)) days"
        if age > limit {
            parts.append(.fail("the latest backup \(name) is \(ageText) old (limit \(Int(limit / 86_400)) days)", fix: backupFix))
        }
        return Finding.combine(parts, passDetail: "latest backup \(name), \(ageText) old, SHA-256 matches its .sha256")
    }

    struct BackupFailure: Error, CustomStringConvertible {
        var description: String
    }

    /// Compares the archive's SHA-256 with the first 64 hex digits of `ARCHIVE.sha256`
    /// (sha256sum's format or the bare digest).
    static func verifySidecar(archive: String) -> Result<Void, BackupFailure> {
        guard let sidecar = SystemFiles.text(archive + ".sha256", limit: 4096) else {
            return .failure(BackupFailure(description: "no .sha256 sidecar, so it cannot be verified"))
        }
        let digits = sidecar.trimmingASCIIWhitespace.prefix(64).lowercased()
        guard digits.count == 64, [UInt8](hex: digits) != nil else {
            return .failure(BackupFailure(description: "its .sha256 holds no SHA-256"))
        }
        let descriptor = open(archive, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else {
            return .failure(BackupFailure(description: "cannot be read: \(String(cString: strerror(errno)))"))
        }
        defer { close(descriptor) }
        var hasher = MTCrypto.SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count < 0 { return .failure(BackupFailure(description: "read failed: \(String(cString: strerror(errno)))")) }
            if count == 0 { break }
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[..<count])) }
        }
        guard hasher.finalize().hexString == digits else {
            return .failure(BackupFailure(description: "SHA-256 does not match its .sha256: damaged or altered"))
        }
        return .success(())
    }

    /// The time in `mtshield-YYYYmmdd-HHMMSS.tar.lz4` (UTC), if the name has one.
    static func backupTime(name: String) -> Date? {
        let pattern = name.split(separator: "-")
        guard pattern.count >= 3, pattern[0] == "mtshield" else { return nil }
        let stamp = pattern[1] + "-" + pattern[2].prefix(6)
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return formatter.date(from: String(stamp))
    }
}
