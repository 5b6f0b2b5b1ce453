import EventLog
import Foundation

/// One reading of `ProxyStats`, rendered for `/stats` (JSON) and `/metrics`
/// (Prometheus text exposition format 0.0.4). Counts only: no address, no secret.
public struct StatsReport: Sendable, Hashable {
    public var snapshot: ProxyStats.Snapshot
    public var uptimeSeconds: Int64
    public var version: String
    /// Entries of the live blocklist (addresses, networks and hashes), when known.
    public var blocklistEntries: Int?
    /// The process's own resource use, when sampled.
    public var process: ProcessUsage?

    public init(snapshot: ProxyStats.Snapshot, nowMilliseconds: Int64, version: String = ProxyLibrary.version) {
        self.snapshot = snapshot
        self.uptimeSeconds = max(0, (nowMilliseconds - snapshot.startedAtMilliseconds) / 1000)
        self.version = version
    }

    // MARK: /stats

    private struct Document: Encodable {
        struct ActiveAndTotal: Encodable {
            var active: Int
            var total: Int
        }

        struct DC: Encodable {
            var sessionsActive: Int
            var sessionsTotal: Int
            var upstreamFailures: Int
            var bytesIn: UInt64
            var bytesOut: UInt64

            enum CodingKeys: String, CodingKey {
                case sessionsActive = "sessions_active"
                case sessionsTotal = "sessions_total"
                case upstreamFailures = "upstream_failures"
                case bytesIn = "bytes_in"
                case bytesOut = "bytes_out"
            }
        }

        struct Bytes: Encodable {
            var `in`: UInt64
            var out: UInt64
        }

        struct BlocklistCounts: Encodable {
            var entries: Int
        }

        var version: String
        var uptimeSeconds: Int64
        var connections: ActiveAndTotal
        var transports: [String: ActiveAndTotal]
        var handshakeFailures: [String: Int]
        var rejections: [String: Int]
        var probesForwarded: Int
        var bytes: Bytes
        var dcs: [String: DC]
        var eventsDropped: UInt64
        var blocklist: BlocklistCounts?
        var process: ProcessUsage?

        enum CodingKeys: String, CodingKey {
            case version
            case uptimeSeconds = "uptime_seconds"
            case connections, transports
            case handshakeFailures = "handshake_failures"
            case rejections
            case probesForwarded = "probes_forwarded"
            case bytes, dcs
            case eventsDropped = "events_dropped"
            case blocklist, process
        }
    }

    /// The `/stats` document: a JSON object with sorted keys (documented in docs/STATS.md).
    public func json() -> [UInt8] {
        let document = Document(
            version: version,
            uptimeSeconds: uptimeSeconds,
            connections: .init(active: snapshot.connectionsActive, total: snapshot.connectionsTotal),
            transports: Dictionary(uniqueKeysWithValues: ProxyTransport.allCases.map {
                ($0.rawValue, .init(active: snapshot.activeByTransport[$0] ?? 0, total: snapshot.totalByTransport[$0] ?? 0))
            }),
            handshakeFailures: snapshot.handshakeFailuresByReason,
            rejections: snapshot.rejectionsByReason,
            probesForwarded: snapshot.probesForwarded,
            bytes: .init(in: snapshot.bytesFromClients, out: snapshot.bytesToClients),
            dcs: Dictionary(uniqueKeysWithValues: snapshot.byDC.map { dc, counters in
                (String(dc), Document.DC(sessionsActive: counters.sessionsActive, sessionsTotal: counters.sessionsTotal,
                                upstreamFailures: counters.upstreamFailures,
                                bytesIn: counters.bytesFromClients, bytesOut: counters.bytesToClients))
            }),
            eventsDropped: snapshot.eventsDropped,
            blocklist: blocklistEntries.map { .init(entries: $0) },
            process: process)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        // Every value is a string, integer or nested object of them: encoding cannot fail.
        return Array((try? encoder.encode(document)) ?? Data("{}".utf8)) + [UInt8(ascii: "\n")]
    }

    // MARK: /metrics

    /// The `/metrics` page in the Prometheus text exposition format, version 0.0.4.
    public func prometheusText() -> [UInt8] {
        var text = PrometheusText()
        text.family("mtproxy_build_info", .gauge, "Build information; the value is always 1.",
                    [(["version": version], 1)])
        text.family("mtproxy_uptime_seconds", .gauge, "Seconds since the proxy started.",
                    [([:], Int64(clamping: uptimeSeconds))])
        text.family("mtproxy_connections_active", .gauge, "Client connections open now.",
                    [([:], Int64(clamping: snapshot.connectionsActive))])
        text.family("mtproxy_connections_total", .counter, "Client connections accepted since start.",
                    [([:], Int64(clamping: snapshot.connectionsTotal))])
        text.family("mtproxy_sessions_active", .gauge, "Authenticated sessions open now, by transport.",
                    ProxyTransport.allCases.map { (["transport": $0.rawValue], Int64(clamping: snapshot.activeByTransport[$0] ?? 0)) })
        text.family("mtproxy_sessions_total", .counter, "Authenticated sessions since start, by transport.",
                    ProxyTransport.allCases.map { (["transport": $0.rawValue], Int64(clamping: snapshot.totalByTransport[$0] ?? 0)) })
        text.family("mtproxy_handshake_failures_total", .counter, "Failed client handshakes, by reason.",
                    snapshot.handshakeFailuresByReason.sorted { $0.key < $1.key }.map { (["reason": $0.key], Int64(clamping: $0.value)) })
        text.family("mtproxy_connections_rejected_total", .counter, "Connections refused at accept time, by reason.",
                    snapshot.rejectionsByReason.sorted { $0.key < $1.key }.map { (["reason": $0.key], Int64(clamping: $0.value)) })
        text.family("mtproxy_probes_forwarded_total", .counter, "Failed handshakes sent on to the fronting domain.",
                    [([:], Int64(clamping: snapshot.probesForwarded))])
        text.family("mtproxy_bytes_total", .counter, "Bytes relayed: in from clients, out to clients.",
                    [(["direction": "in"], Int64(clamping: snapshot.bytesFromClients)),
                     (["direction": "out"], Int64(clamping: snapshot.bytesToClients))])
        let dcs = snapshot.byDC.sorted { $0.key < $1.key }
        text.family("mtproxy_dc_sessions_active", .gauge, "Sessions open now, by Telegram DC.",
                    dcs.map { (["dc": String($0.key)], Int64(clamping: $0.value.sessionsActive)) })
        text.family("mtproxy_dc_sessions_total", .counter, "Sessions since start, by Telegram DC.",
                    dcs.map { (["dc": String($0.key)], Int64(clamping: $0.value.sessionsTotal)) })
        text.family("mtproxy_dc_upstream_failures_total", .counter, "Failed connections to a Telegram DC.",
                    dcs.map { (["dc": String($0.key)], Int64(clamping: $0.value.upstreamFailures)) })
        text.family("mtproxy_dc_bytes_total", .counter, "Bytes relayed by Telegram DC: in from clients, out to clients.",
                    dcs.flatMap { [(["dc": String($0.key), "direction": "in"], Int64(clamping: $0.value.bytesFromClients)),
                                   (["dc": String($0.key), "direction": "out"], Int64(clamping: $0.value.bytesToClients))] })
        text.family("mtproxy_events_dropped_total", .counter, "Events the event writer dropped because its queue was full.",
                    [([:], Int64(clamping: snapshot.eventsDropped))])
        if let blocklistEntries {
            text.family("mtproxy_blocklist_entries", .gauge, "Entries of the live blocklist: addresses, networks and hashes.",
                        [([:], Int64(clamping: blocklistEntries))])
        }
        if let process {
            text.family("process_resident_memory_bytes", .gauge, "Resident memory size in bytes.",
                        [([:], Int64(clamping: process.residentBytes))])
            text.family("process_cpu_milliseconds_total", .counter, "User and system CPU time in milliseconds.",
                        [([:], Int64(process.cpuSeconds * 1000))])
            text.family("process_threads", .gauge, "Threads of the process.", [([:], Int64(process.threads))])
            text.family("process_open_fds", .gauge, "Open file descriptors.", [([:], Int64(process.openFiles))])
        }
        return Array(text.output.utf8)
    }
}

/// Writes metric families in the Prometheus text format: `# HELP`, `# TYPE`, samples.
struct PrometheusText {
    enum MetricType: String {
        case counter, gauge
    }

    private(set) var output = ""

    /// Label names are sorted; a family without samples still gets its HELP and TYPE.
    mutating func family(_ name: String, _ type: MetricType, _ help: String, _ samples: [([String: String], Int64)]) {
        output += "# HELP \(name) \(Self.escapeHelp(help))\n# TYPE \(name) \(type.rawValue)\n"
        for (labels, value) in samples {
            output += name
            if !labels.isEmpty {
                output += "{"
                output += labels.sorted { $0.key < $1.key }
                    .map { "\($0.key)=\"\(Self.escapeLabelValue($0.value))\"" }
                    .joined(separator: ",")
                output += "}"
            }
            output += " \(value)\n"
        }
    }

    static func escapeHelp(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }

    static func escapeLabelValue(_ text: String) -> String {
        escapeHelp(text).replacingOccurrences(of: "\"", with: "\\\"")
    }
}
