#if canImport(Glibc)
import Glibc
#endif
import ConfigFile
import MTCrypto

/// Replacing a configuration file whole: the new text goes to a temporary file beside it
/// with the old file's owner and mode, is synced, and renamed over the old one, so a
/// reader (a SIGHUP reload) sees either the old file or the new one, never a mix.
public enum ConfigurationFile {
    public static func replace(path: String, with text: String) throws(ConfigError) {
        var info = stat()
        guard stat(path, &info) == 0 else { throw failure(path, "cannot read its owner and mode") }
        let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        let name = path.split(separator: "/").last.map(String.init) ?? path
        let temporary = "\(directory.isEmpty ? "/" : directory)/.\(name).\(SecureRandom.bytes(6).hexString).tmp"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else { throw failure(temporary, "cannot create") }
        var written = false
        defer {
            if !written { unlink(temporary) }
        }
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let count = bytes[offset...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                close(descriptor)
                throw failure(temporary, "cannot write")
            }
            offset += count
        }
        // Owner first: chown clears the set-id bits that fchmod then sets as they were.
        _ = fchown(descriptor, info.st_uid, info.st_gid)
        guard fchmod(descriptor, info.st_mode & 0o7777) == 0, fsync(descriptor) == 0 else {
            close(descriptor)
            throw failure(temporary, "cannot set its mode or sync it")
        }
        close(descriptor)
        guard rename(temporary, path) == 0 else { throw failure(path, "cannot replace") }
        written = true
        let directoryDescriptor = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }

    private static func failure(_ path: String, _ what: String) -> ConfigError {
        ConfigError(file: path, message: "\(what): \(String(cString: strerror(errno)))")
    }
}
