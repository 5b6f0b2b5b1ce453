/// The links users paste into Telegram: `tg://proxy?server=H&port=P&secret=S` and its
/// `https://t.me/proxy?...` twin. The secret is written in hex, which every client reads
/// (PROTOCOL.md §1, recommendation after the base64 alphabet disagreements).
public struct ProxyLink: Sendable, Hashable {
    /// Host name or address; an IPv6 address may be given with or without brackets.
    public var server: String
    public var port: Int
    public var secret: ProxySecret

    public init(server: String, port: Int, secret: ProxySecret) {
        self.server = server
        self.port = port
        self.secret = secret
    }

    /// `tg://proxy?server=H&port=P&secret=S`
    public var telegramURL: String { "tg://proxy?" + query }

    /// `https://t.me/proxy?server=H&port=P&secret=S`
    public var webURL: String { "https://t.me/proxy?" + query }

    private var query: String {
        var host = Substring(server)
        if host.first == "[" && host.last == "]" { host = host.dropFirst().dropLast() }
        return "server=\(Self.percentEncoded(host))&port=\(port)&secret=\(secret.hexText)"
    }

    private static func percentEncoded(_ text: Substring) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."),
                 UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: ":"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return out
    }
}

extension ProxyLink: CustomStringConvertible {
    /// Never the secret: a link printed by accident must not leak it.
    public var description: String { "ProxyLink(\(server):\(port), \(secret))" }
}
