import EventLog

/// `host:port` or `[v6]:port` as written in `listen`, `telegram.dcs`, `stats.listen`.
/// The host is an IP address literal or, where a name is allowed, a DNS name.
public struct HostAndPort: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// The parsed address when the host is an IP literal.
    public var address: IPAddress?

    /// What is wrong with text that did not parse; phrased to complete "expected …".
    public enum Problem: Error, Sendable, Hashable, CustomStringConvertible {
        case missingPort
        case badPort
        case unbracketedIPv6
        case badHost
        case nameNotAllowed

        public var description: String {
            switch self {
            case .missingPort: "host:port or [IPv6]:port; the port is missing"
            case .badPort: "host:port with a port between 1 and 65535 (0 only to listen on any free port)"
            case .unbracketedIPv6: "an IPv6 address in brackets, such as [::]:443"
            case .badHost: "host:port where the host is an IP address or a DNS name"
            case .nameNotAllowed: "an IP address and port such as 0.0.0.0:443 or [::]:443; a DNS name is not allowed here"
            }
        }
    }

    public init(host: String, port: Int, address: IPAddress?) {
        self.host = host
        self.port = port
        self.address = address
    }

    /// Parses `text`; `allowName` permits a DNS name as the host, `allowAnyPort` port 0
    /// (a listener on any free port, for tests).
    public static func parse(_ text: some StringProtocol, allowName: Bool, allowAnyPort: Bool = false) -> Result<HostAndPort, Problem> {
        let lowest = allowAnyPort ? 0 : 1
        let text = Substring(text)
        let hostText: Substring
        let portText: Substring
        if text.first == "[" {
            guard let close = text.firstIndex(of: "]") else { return .failure(.badHost) }
            hostText = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.first == ":" else { return .failure(.missingPort) }
            portText = rest.dropFirst()
            guard let address = IPAddress(hostText), !address.isIPv4 || hostText.contains(":") else {
                return .failure(.badHost)
            }
            return port(portText, lowest: lowest).map { HostAndPort(host: String(hostText), port: $0, address: address) }
        }
        guard let colon = text.lastIndex(of: ":") else { return .failure(.missingPort) }
        hostText = text[..<colon]
        portText = text[text.index(after: colon)...]
        if hostText.contains(":") { return .failure(.unbracketedIPv6) }
        if let address = IPAddress(hostText) {
            return port(portText, lowest: lowest).map { HostAndPort(host: String(hostText), port: $0, address: address) }
        }
        guard isDNSName(hostText) else { return .failure(.badHost) }
        guard allowName else { return .failure(.nameNotAllowed) }
        return port(portText, lowest: lowest).map { HostAndPort(host: String(hostText), port: $0, address: nil) }
    }

    /// `host:port`, with brackets around an IPv6 host.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    private static func port(_ text: Substring, lowest: Int) -> Result<Int, Problem> {
        guard !text.isEmpty else { return .failure(.missingPort) }
        guard text.count <= 5, text.allSatisfy({ $0.isASCII && $0.isNumber }),
              let value = Int(text), (lowest...65_535).contains(value) else { return .failure(.badPort) }
        return .success(value)
    }

    /// Letters, digits, hyphens and dots, labels of 1 to 63 characters, not all-numeric
    /// at the end (that would be a mistyped IPv4 address).
    public static func isDNSName(_ text: some StringProtocol) -> Bool {
        guard (1...253).contains(text.utf8.count) else { return false }
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        for label in labels {
            guard (1...63).contains(label.utf8.count), label.first != "-", label.last != "-",
                  label.utf8.allSatisfy({ byte in
                      (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
                          || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "-")
                  }) else { return false }
        }
        return !(labels.last?.allSatisfy { $0.isNumber } ?? true)
    }
}
