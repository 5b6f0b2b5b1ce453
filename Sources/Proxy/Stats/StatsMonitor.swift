import Foundation

/// One `/stats` document as `mtproxy monitor` reads it. Lenient where `/stats` itself is
/// strict: a key a proxy does not send (an older one without `process`) reads as absent
/// or zero, so the monitor works against any version.
public struct StatsReading: Sendable, Equatable {
    public struct Sessions: Sendable, Equatable {
        public var active: Int
        public var total: Int
    }

    public var version = ""
    public var uptimeSeconds: Int64 = 0
    public var connectionsActive = 0
    public var connectionsTotal = 0
    /// Transport → (active, total).
    public var transports: [String: Sessions] = [:]
    public var handshakeFailures: [String: Int] = [:]
    public var rejections: [String: Int] = [:]
    public var probesForwarded = 0
    public var bytesIn: UInt64 = 0
    public var bytesOut: UInt64 = 0
    public var eventsDropped: UInt64 = 0
    public var blocklistEntries: Int?
    public var process: ProcessUsage?
    /// When it was read (milliseconds, the monitor's clock), for rates.
    public var readAtMilliseconds: Int64 = 0

    public init() {}

    public enum Failure: Error, CustomStringConvertible, Sendable {
        case notJSON(String)

        public var description: String {
            switch self {
            case .notJSON(let reason): "the /stats answer is not a stats document: \(reason)"
            }
        }
    }

    /// Parses a `/stats` body.
    public init(json: [UInt8], readAtMilliseconds: Int64) throws(Failure) {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(json))
        } catch {
            throw .notJSON("not JSON")
        }
        guard let root = object as? [String: Any] else { throw .notJSON("not a JSON object") }
        func int(_ value: Any?) -> Int { (value as? NSNumber)?.intValue ?? 0 }
        func uint(_ value: Any?) -> UInt64 { (value as? NSNumber)?.uint64Value ?? 0 }
        func counts(_ value: Any?) -> [String: Int] {
            ((value as? [String: Any]) ?? [:]).mapValues { int($0) }
        }
        self.readAtMilliseconds = readAtMilliseconds
        version = root["version"] as? String ?? ""
        uptimeSeconds = Int64(int(root["uptime_seconds"]))
        let connections = root["connections"] as? [String: Any] ?? [:]
        connectionsActive = int(connections["active"])
        connectionsTotal = int(connections["total"])
        for (name, value) in root["transports"] as? [String: Any] ?? [:] {
            let pair = value as? [String: Any] ?? [:]
            transports[name] = Sessions(active: int(pair["active"]), total: int(pair["total"]))
        }
        handshakeFailures = counts(root["handshake_failures"])
        rejections = counts(root["rejections"])
        probesForwarded = int(root["probes_forwarded"])
        let bytes = root["bytes"] as? [String: Any] ?? [:]
        bytesIn = uint(bytes["in"])
        bytesOut = uint(bytes["out"])
        eventsDropped = uint(root["events_dropped"])
        if let blocklist = root["blocklist"] as? [String: Any] {
            blocklistEntries = int(blocklist["entries"])
        }
        if let process = root["process"] as? [String: Any] {
            self.process = ProcessUsage(residentBytes: uint(process["rss_bytes"]),
                                        cpuSeconds: (process["cpu_seconds"] as? NSNumber)?.doubleValue ?? 0,
                                        threads: int(process["threads"]), openFiles: int(process["open_files"]))
        }
    }
}

/// What `mtproxy monitor` shows: one reading, with per-second rates against the previous
/// one when there is a previous one. Pure text; the command decides how to paint it.
public struct MonitorScreen: Sendable {
    public var source: String
    public var current: StatsReading
    public var previous: StatsReading?

    public init(source: String, current: StatsReading, previous: StatsReading?) {
        self.source = source
        self.current = current
        self.previous = previous
    }

    /// Seconds between the two readings; nil without a previous one, or when the proxy
    /// restarted in between (counters went backwards).
    var interval: Double? {
        guard let previous, current.readAtMilliseconds > previous.readAtMilliseconds,
              current.connectionsTotal >= previous.connectionsTotal, current.uptimeSeconds >= previous.uptimeSeconds
        else { return nil }
        return Double(current.readAtMilliseconds - previous.readAtMilliseconds) / 1000
    }

    private func rate(_ now: Double, _ before: Double?) -> Double? {
        guard let interval, let before, now >= before else { return nil }
        return (now - before) / interval
    }

    public func lines() -> [String] {
        let now = current
        var lines: [String] = []
        lines.append("mtproxy \(now.version.isEmpty ? "?" : now.version)  up \(Self.duration(now.uptimeSeconds))  \(source)")
        lines.append("")
        let newPerSecond = rate(Double(now.connectionsTotal), previous.map { Double($0.connectionsTotal) })
        lines.append(Self.row("connections", ["active \(now.connectionsActive)", "total \(now.connectionsTotal)",
                                              "new \(Self.perSecond(newPerSecond))"]))
        let transports = now.transports.keys.sorted().map { name in
            let pair = now.transports[name] ?? StatsReading.Sessions(active: 0, total: 0)
            return "\(name) \(pair.active) (\(pair.total))"
        }
        lines.append(Self.row("sessions", transports.isEmpty ? ["none"] : transports))
        let inRate = rate(Double(now.bytesIn), previous.map { Double($0.bytesIn) })
        let outRate = rate(Double(now.bytesOut), previous.map { Double($0.bytesOut) })
        lines.append(Self.row("traffic", ["in \(Self.bytesRate(inRate))", "out \(Self.bytesRate(outRate))",
                                          "total in \(Self.bytes(now.bytesIn)), out \(Self.bytes(now.bytesOut))"]))
        lines.append(Self.row("failures", counted(now.handshakeFailures, previous?.handshakeFailures)))
        lines.append(Self.row("rejections", counted(now.rejections, previous?.rejections)))
        lines.append(Self.row("bans", [now.blocklistEntries.map { "\($0) blocklist entries" } ?? "unknown (proxy does not report its blocklist)",
                                       "blocklisted \(now.rejections["blocklisted"] ?? 0)"]))
        lines.append(Self.row("probes", ["forwarded \(now.probesForwarded)"]))
        if let process = now.process {
            let cpu = rate(process.cpuSeconds, previous?.process?.cpuSeconds).map { String(format: "%.1f%%", $0 * 100) } ?? "-"
            lines.append(Self.row("process", ["rss \(Self.bytes(process.residentBytes))", "cpu \(cpu)",
                                              String(format: "cpu time %.1fs", process.cpuSeconds),
                                              "threads \(process.threads)", "fds \(process.openFiles)"]))
        } else {
            lines.append(Self.row("process", ["unknown (proxy does not report it)"]))
        }
        lines.append(Self.row("events", ["dropped \(now.eventsDropped)"]))
        return lines
    }

    /// `reason count (+rate/s)`, largest first; "none" when empty.
    private func counted(_ now: [String: Int], _ before: [String: Int]?) -> [String] {
        guard !now.isEmpty else { return ["none"] }
        return now.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { reason, count in
            let perSecond = rate(Double(count), before.map { Double($0[reason] ?? 0) })
            return perSecond.map { "\(reason) \(count) (\(Self.perSecond($0)))" } ?? "\(reason) \(count)"
        }
    }

    static func row(_ title: String, _ cells: [String]) -> String {
        title.padding(toLength: 12, withPad: " ", startingAt: 0) + cells.joined(separator: "   ")
    }

    static func perSecond(_ value: Double?) -> String {
        guard let value else { return "-/s" }
        return String(format: "%.1f/s", value)
    }

    static func bytes(_ value: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var scaled = Double(value)
        var unit = 0
        while scaled >= 1024, unit < units.count - 1 {
            scaled /= 1024
            unit += 1
        }
        return unit == 0 ? "\(value) B" : String(format: "%.1f", scaled) + " " + units[unit]
    }

    static func bytesRate(_ value: Double?) -> String {
        guard let value else { return "-/s" }
        return bytes(UInt64(value.rounded())) + "/s"
    }

    static func duration(_ seconds: Int64) -> String {
        let days = seconds / 86_400
        let hours = seconds % 86_400 / 3600
        let minutes = seconds % 3600 / 60
        let rest = seconds % 60
        if days > 0 { return "\(days)d\(hours)h\(minutes)m" }
        if hours > 0 { return "\(hours)h\(minutes)m\(rest)s" }
        if minutes > 0 { return "\(minutes)m\(rest)s" }
        return "\(rest)s"
    }
}
