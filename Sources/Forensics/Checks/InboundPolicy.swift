/// What a parsed nftables ruleset lets in: whether inbound IPv4 and IPv6 are denied by
/// default, which ports it opens to every source, and any rule that accepts everything.
struct InboundPolicy {
    struct OpenPorts: Hashable {
        /// `tcp`, `udp` (a `th dport` rule opens both).
        var transport: String
        var ports: ClosedRange<Int>

        var description: String {
            ports.count == 1 ? "\(transport)/\(ports.lowerBound)" : "\(transport)/\(ports.lowerBound)-\(ports.upperBound)"
        }
    }

    var hasInputChain = false
    var deniesIPv4 = false
    var deniesIPv6 = false
    var open: [OpenPorts] = []
    var acceptsAll: [String] = []

    /// `services` maps names `nft` may print instead of numbers (`ssh`, `https`) to ports.
    init(ruleset: NftablesRuleset, services: [String: Int]) {
        for table in ruleset.tables where ["inet", "ip", "ip6"].contains(table.family) {
            for chain in table.chains where chain.hook == "input" && (chain.type ?? "filter") == "filter" {
                hasInputChain = true
                guard Self.deniesByDefault(chain) else { continue }
                if table.family != "ip6" { deniesIPv4 = true }
                if table.family != "ip" { deniesIPv6 = true }
                collect(chain: chain, in: table, services: services, depth: 0)
            }
        }
    }

    func isOpen(transport: String, port: Int) -> Bool {
        open.contains { $0.transport == transport && $0.ports.contains(port) }
    }

    static func deniesByDefault(_ chain: NftablesRuleset.Chain) -> Bool {
        if chain.policy == "drop" { return true }
        guard let last = chain.rules.last else { return false }
        let words = last.split(separator: " ").filter { !["counter", "packets", "bytes", "log"].contains($0) && Int($0) == nil }
        return words == ["drop"] || words.first == "reject"
    }

    private mutating func collect(chain: NftablesRuleset.Chain, in table: NftablesRuleset.Table, services: [String: Int], depth: Int) {
        for rule in chain.rules {
            let words = rule.split(separator: " ").map(String.init)
            guard let verdictIndex = words.lastIndex(where: { ["accept", "jump", "goto", "drop", "reject"].contains($0) }) else { continue }
            let verdict = words[verdictIndex]
            if verdict == "drop" || verdict == "reject" { continue }
            if Self.isRestricted(words) { continue }
            if verdict == "jump" || verdict == "goto" {
                if depth < 8, verdictIndex + 1 < words.count, let target = table.chain(words[verdictIndex + 1]) {
                    collect(chain: target, in: table, services: services, depth: depth + 1)
                }
                continue
            }
            let found = Self.ports(in: words, services: services)
            if found.isEmpty {
                acceptsAll.append(rule)
            } else {
                for item in found where !open.contains(item) { open.append(item) }
            }
        }
    }

    /// Rules that do not open anything to the world: loopback, replies, ICMP, a source match.
    static func isRestricted(_ words: [String]) -> Bool {
        for (index, word) in words.enumerated() {
            if (word == "iif" || word == "iifname"), index + 1 < words.count, words[index + 1].trimming("\"") == "lo" { return true }
            if word == "saddr" { return true }
            if ["icmp", "icmpv6", "ipv6-icmp"].contains(word) { return true }
            if word == "state", index > 0, words[index - 1] == "ct", index + 1 < words.count {
                var states: [String] = []
                var cursor = index + 1
                if words[cursor] == "{" {
                    cursor += 1
                    while cursor < words.count, words[cursor] != "}" { states.append(words[cursor].trimming(",")); cursor += 1 }
                } else {
                    states = words[cursor].split(separator: ",").map(String.init)
                }
                if !states.contains("new") && !states.contains("untracked") { return true }
            }
        }
        return false
    }

    /// The destination ports a rule matches, with their transport.
    static func ports(in words: [String], services: [String: Int]) -> [OpenPorts] {
        guard let index = words.firstIndex(of: "dport"), index + 1 < words.count else { return [] }
        let protocolWord = index > 0 ? words[index - 1] : "th"
        let transports = protocolWord == "tcp" || protocolWord == "udp" ? [protocolWord] : ["tcp", "udp"]
        var items: [String] = []
        if words[index + 1] == "{" {
            var cursor = index + 2
            while cursor < words.count, words[cursor] != "}" {
                items += words[cursor].split(separator: ",").map(String.init)
                cursor += 1
            }
        } else {
            items = [words[index + 1]]
        }
        var ranges: [ClosedRange<Int>] = []
        for item in items {
            let bounds = item.split(separator: "-").map(String.init)
            let numbers = bounds.compactMap { Int($0) ?? services[$0] }
            guard numbers.count == bounds.count, let low = numbers.first, let high = numbers.last, low <= high else {
                // Something we cannot read (a named set `@ports`): count it as every port.
                ranges.append(0...65535)
                continue
            }
            ranges.append(low...high)
        }
        return transports.flatMap { transport in ranges.map { OpenPorts(transport: transport, ports: $0) } }
    }
}

/// Service names `nft` prints for well-known ports: from /etc/services when readable.
enum ServiceNames {
    static let fallback = ["ssh": 22, "http": 80, "https": 443, "domain": 53, "smtp": 25, "ntp": 123]

    static func read(_ text: String?) -> [String: Int] {
        guard let text else { return fallback }
        var names = fallback
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 2 else { continue }
            let portAndProtocol = fields[1].split(separator: "/")
            guard let port = Int(portAndProtocol.first ?? "") else { continue }
            names[String(fields[0])] = port
            for alias in fields.dropFirst(2) where !alias.hasPrefix("#") { names[String(alias)] = port }
        }
        return names
    }
}
