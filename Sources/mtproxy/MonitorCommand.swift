#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import ConfigFile
import EventLog
import Proxy

struct MonitorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "monitor",
        abstract: "Live view of a running proxy from its /stats: connections, rates, failures, bans, resources.",
        discussion: """
        On a terminal the view is repainted in place every --interval until Ctrl-C; rates \
        are per second between two polls. Without a terminal, or with --once, it prints \
        plain text: with --once one reading (totals, no rates), otherwise one block per poll.
        """
    )

    @Option(help: ArgumentHelp("The stats URL. Default: http://STATS/stats of --config, else http://127.0.0.1:3001/stats.", valueName: "url"))
    var stats: String?

    @Option(help: ArgumentHelp("The proxy configuration, for stats.listen.", valueName: "file"))
    var config: String?

    @Flag(help: "Print one reading and exit.")
    var once = false

    @Option(help: ArgumentHelp("Time between polls (500ms to 1h).", valueName: "duration"))
    var interval: String = "2s"

    @Option(help: ArgumentHelp("Stop after this many polls (default: until interrupted).", valueName: "N"))
    var count: Int?

    func validate() throws {
        guard let duration = ConfigText.duration(interval), duration >= .milliseconds(500), duration <= .seconds(3600) else {
            throw ValidationError("--interval must be a duration between 500ms and 1h, such as 2s")
        }
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    func run() throws {
        let url = try statsURL()
        let target: StatsURL
        switch StatsURL.parse(url) {
        case .success(let parsed): target = parsed
        case .failure(let problem):
            printError("error: --stats: \(problem)")
            throw ExitCode.failure
        }
        let pause = ConfigText.milliseconds(ConfigText.duration(interval) ?? .seconds(2))
        let terminal = isatty(STDOUT_FILENO) == 1 && !once
        var previous: StatsReading?
        var polls = 0
        while true {
            polls += 1
            let lines: [String]
            do {
                let body = try target.get()
                let reading = try StatsReading(json: body, readAtMilliseconds: Event.nowMilliseconds())
                lines = MonitorScreen(source: url, current: reading, previous: previous).lines()
                previous = reading
            } catch {
                if once || !terminal && count != nil {
                    printError("error: \(url): \(error)")
                    throw ExitCode.failure
                }
                lines = ["mtproxy monitor: \(url): \(error)", "retrying every \(interval)"]
                previous = nil
            }
            if terminal {
                // Home, the lines each cleared to their end, then everything below cleared.
                print("\u{1b}[H" + lines.map { $0 + "\u{1b}[K" }.joined(separator: "\n") + "\u{1b}[J", terminator: "")
                print("")
            } else {
                if polls > 1 { print("") }
                print(lines.joined(separator: "\n"))
            }
            fflush(nil)
            if once || count.map({ polls >= $0 }) == true { return }
            var request = timespec(tv_sec: Int(pause / 1000), tv_nsec: Int(pause % 1000) * 1_000_000)
            var remaining = timespec()
            while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
        }
    }

    private func statsURL() throws -> String {
        if let stats { return stats }
        guard let config else { return "http://127.0.0.1:3001/stats" }
        let configuration: ProxyConfiguration
        do {
            configuration = try ProxyConfiguration.load(path: config)
        } catch {
            printError("error: \(error)")
            throw ExitCode.failure
        }
        guard let listen = configuration.stats.listen,
              case .success(var endpoint) = HostAndPort.parse(listen, allowName: false, allowAnyPort: true) else {
            printError("error: \(config): stats.listen is null; the proxy has no /stats to monitor")
            throw ExitCode.failure
        }
        // A wildcard listener answers on loopback too.
        if endpoint.host == "0.0.0.0" { endpoint = HostAndPort(host: "127.0.0.1", port: endpoint.port, address: IPAddress("127.0.0.1")) }
        if endpoint.host == "::" { endpoint = HostAndPort(host: "::1", port: endpoint.port, address: IPAddress("::1")) }
        return "http://\(endpoint)/stats"
    }
}

/// `http://host:port/path` with an IP address or `localhost`, fetched with one blocking
/// HTTP/1.0 request: all the monitor needs from a loopback stats page.
struct StatsURL {
    var host: String
    var port: Int
    var path: String

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func parse(_ text: String) -> Result<StatsURL, Failure> {
        guard text.hasPrefix("http://") else { return .failure(Failure(description: "expected http://host:port/path, found \(ConfigText.quoted(text))")) }
        let rest = text.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        var hostText = String(authority)
        var port = 80
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            guard let parsed = Int(authority[authority.index(after: colon)...]), (1...65_535).contains(parsed) else {
                return .failure(Failure(description: "bad port in \(ConfigText.quoted(text))"))
            }
            port = parsed
            hostText = String(authority[..<colon])
        }
        if hostText.hasPrefix("[") && hostText.hasSuffix("]") { hostText = String(hostText.dropFirst().dropLast()) }
        if hostText == "localhost" { hostText = "127.0.0.1" }
        guard IPAddress(hostText) != nil else {
            return .failure(Failure(description: "the host must be an IP address (stats listen on one), found \(ConfigText.quoted(hostText))"))
        }
        return .success(StatsURL(host: hostText, port: port, path: path.isEmpty ? "/stats" : String(path)))
    }

    /// The body of a 200 answer.
    func get(timeoutSeconds: Int = 5) throws(Failure) -> [UInt8] {
        let v6 = host.contains(":")
        let descriptor = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw Failure(description: "socket: \(String(cString: strerror(errno)))") }
        defer { close(descriptor) }
        var timeout = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected: Int32
        if v6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET6, host, &address.sin6_addr)
            connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            inet_pton(AF_INET, host, &address.sin_addr)
            connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        guard connected == 0 else { throw Failure(description: "cannot connect: \(String(cString: strerror(errno)))") }
        let request = Array("GET \(path) HTTP/1.0\r\nHost: \(host)\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == request.count else {
            throw Failure(description: "cannot send the request")
        }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while response.count < 8 << 20 {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { throw Failure(description: "no answer: \(String(cString: strerror(errno)))") }
            if count == 0 { break }
            response += buffer[..<count]
        }
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let split = (0..<max(0, response.count - 3)).first(where: { Array(response[$0..<$0 + 4]) == separator }) else {
            throw Failure(description: "not an HTTP answer")
        }
        let statusLine = String(decoding: response.prefix { $0 != 13 }, as: UTF8.self)
        let status = statusLine.split(separator: " ").dropFirst().first.map(String.init) ?? "?"
        guard status == "200" else { throw Failure(description: "HTTP \(status) (\(statusLine))") }
        return Array(response[(split + 4)...])
    }
}
