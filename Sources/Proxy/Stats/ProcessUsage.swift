#if canImport(Glibc)
import Glibc
#endif

/// The proxy's own resource use, read from /proc/self when `/stats` is asked for:
/// resident memory, CPU time, threads, open descriptors. Nil off Linux.
public struct ProcessUsage: Sendable, Hashable, Codable {
    public var residentBytes: UInt64
    /// User plus system CPU time since start.
    public var cpuSeconds: Double
    public var threads: Int
    public var openFiles: Int

    enum CodingKeys: String, CodingKey {
        case residentBytes = "rss_bytes"
        case cpuSeconds = "cpu_seconds"
        case threads
        case openFiles = "open_files"
    }

    public init(residentBytes: UInt64, cpuSeconds: Double, threads: Int, openFiles: Int) {
        self.residentBytes = residentBytes
        self.cpuSeconds = cpuSeconds
        self.threads = threads
        self.openFiles = openFiles
    }

    public static func current() -> ProcessUsage? {
        guard let stat = readSmallFile("/proc/self/stat"), let statm = readSmallFile("/proc/self/statm") else { return nil }
        return parse(stat: stat, statm: statm, pageSize: UInt64(sysconf(Int32(_SC_PAGESIZE))),
                     ticksPerSecond: Double(sysconf(Int32(_SC_CLK_TCK))), openFiles: countOpenFiles())
    }

    /// `stat`: fields after the parenthesised command name (which may hold spaces);
    /// utime and stime are fields 14 and 15, num_threads 20. `statm`: rss in pages, field 2.
    static func parse(stat: String, statm: String, pageSize: UInt64, ticksPerSecond: Double, openFiles: Int) -> ProcessUsage? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state).
        guard fields.count >= 18, let utime = Double(fields[11]), let stime = Double(fields[12]),
              let threads = Int(fields[17]), ticksPerSecond > 0 else { return nil }
        let pages = statm.split(separator: " ")
        guard pages.count >= 2, let rss = UInt64(pages[1].filter(\.isNumber)) else { return nil }
        return ProcessUsage(residentBytes: rss * pageSize, cpuSeconds: (utime + stime) / ticksPerSecond,
                            threads: threads, openFiles: openFiles)
    }

    private static func readSmallFile(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count], as: UTF8.self)
    }

    private static func countOpenFiles() -> Int {
        guard let directory = opendir("/proc/self/fd") else { return 0 }
        defer { closedir(directory) }
        var count = 0
        while readdir(directory) != nil { count += 1 }
        // ".", ".." and the descriptor of the listing itself.
        return max(0, count - 3)
    }
}
