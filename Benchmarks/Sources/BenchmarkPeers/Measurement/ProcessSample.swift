#if canImport(Glibc)
import Glibc
#endif

/// CPU time (user + system, all threads) and resident memory of one process, read from
/// /proc/PID/stat and /proc/PID/status.
public struct ProcessSample: Sendable, Equatable {
    public let cpuSeconds: Double
    public let residentKiB: Int

    public init(cpuSeconds: Double, residentKiB: Int) {
        self.cpuSeconds = cpuSeconds
        self.residentKiB = residentKiB
    }

    public static func read(pid: Int32) throws(BenchmarkError) -> ProcessSample {
        guard let stat = readProcFile(pid: pid, name: "stat"), let cpu = cpuSeconds(stat: stat) else {
            throw .unreadableProcess(pid: pid, file: "stat")
        }
        guard let status = readProcFile(pid: pid, name: "status"), let rss = residentKiB(status: status) else {
            throw .unreadableProcess(pid: pid, file: "status")
        }
        return ProcessSample(cpuSeconds: cpu, residentKiB: rss)
    }

    /// Fields 14 and 15 of /proc/PID/stat (utime, stime) in clock ticks. The command name in
    /// field 2 may hold spaces and parentheses, so fields are counted after its last ')'.
    static func cpuSeconds(stat: String) -> Double? {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state); utime is field 14.
        guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { return nil }
        return Double(user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    static func residentKiB(status: String) -> Int? {
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return line.split(separator: " ").dropFirst().first.flatMap { Int($0) }
        }
        return nil
    }

    private static func readProcFile(pid: Int32, name: String) -> String? {
        let fd = open("/proc/\(pid)/\(name)", O_RDONLY)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            bytes += chunk[0..<count]
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// The processes whose cost a phase records: the relay under test and the two peers.
public struct ProcessSet: Sendable {
    public let proxy: Int32
    public let fakeDC: Int32
    public let client: Int32

    public init(proxy: Int32, fakeDC: Int32, client: Int32 = getpid()) {
        self.proxy = proxy
        self.fakeDC = fakeDC
        self.client = client
    }

    public func sample() throws(BenchmarkError) -> Samples {
        Samples(proxy: try .read(pid: proxy), fakeDC: try .read(pid: fakeDC), client: try .read(pid: client))
    }

    public struct Samples: Sendable {
        public let proxy: ProcessSample
        public let fakeDC: ProcessSample
        public let client: ProcessSample
    }
}
