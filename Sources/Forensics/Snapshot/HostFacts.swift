#if canImport(Glibc)
import Glibc
#endif

/// Facts about the machine that go into the custody record.
public enum HostFacts {
    public static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Who runs the snapshot: the user behind sudo if any, else the login or the uid's name.
    public static func operatorName(environment: [String: String]) -> String {
        for key in ["SUDO_USER", "LOGNAME", "USER"] {
            if let value = environment[key], !value.isEmpty { return value }
        }
        if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name {
            return String(cString: name)
        }
        return "uid \(geteuid())"
    }

    /// The wall clock now, in milliseconds since the epoch.
    public static func nowMilliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }

    /// Where a timestamp came from and whether the system believes its clock is
    /// synchronized (`timedatectl`'s NTPSynchronized; nil when it cannot say).
    public static func clock(atMilliseconds now: Int64) -> CustodyRecord.Clock {
        var answer: [UInt8] = []
        let result = try? CommandRunner.run(["timedatectl", "show", "--property=NTPSynchronized", "--value"],
                                            timeout: .seconds(2)) { answer += $0 }
        let text = String(decoding: answer, as: UTF8.self).trimmingASCIIWhitespace
        let synchronized: Bool? = result?.exitStatus == 0 ? (text == "yes" ? true : text == "no" ? false : nil) : nil
        let clocksource = readSmallFile("/sys/devices/system/clocksource/clocksource0/current_clocksource")
        return CustodyRecord.Clock(utc: RFC3339.format(milliseconds: now),
                                   source: "system clock (CLOCK_REALTIME)",
                                   kernelClocksource: clocksource,
                                   synchronized: synchronized)
    }

    static func readSmallFile(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let count = read(descriptor, &buffer, buffer.count)
        guard count > 0 else { return nil }
        return String(decoding: buffer[..<count], as: UTF8.self).trimmingASCIIWhitespace
    }
}
