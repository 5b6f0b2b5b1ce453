extension SecurityChecklist {
    static let sshPort = 22
    static let firewallFix = "load deploy/nftables.conf (nft -f deploy/nftables.conf; install it as /etc/nftables.conf and enable nftables.service), with the proxy's ports in PROXY_PORTS"

    /// `nft list ruleset`: inbound denied by default for IPv4 and IPv6, the proxy's ports
    /// open, nothing else but SSH open to every source, the auditor's table present.
    static func firewall(_ inputs: CheckInputs) -> Finding {
        let output = inputs.context.runCommand(["nft", "list", "ruleset"])
        guard let status = output.exitStatus else {
            return .unknown("cannot run `nft list ruleset`: \(output.standardError.trimmingASCIIWhitespace)",
                            fix: "install nftables (apt-get install nftables) and run the check as root")
        }
        guard status == 0 else {
            return .unknown("`nft list ruleset` failed (status \(status)): \(output.standardError.trimmingASCIIWhitespace.prefix(200))",
                            fix: "run the check as root")
        }
        let ruleset = NftablesRuleset(listing: output.standardOutput)
        let services = ServiceNames.read(SystemFiles.text(inputs.context.systemPath("/etc/services")))
        let policy = InboundPolicy(ruleset: ruleset, services: services)
        guard policy.hasInputChain else {
            return .fail("no nftables input chain: every inbound connection is accepted", fix: firewallFix)
        }
        var parts: [Finding] = []
        if !policy.deniesIPv4 { parts.append(.fail("inbound IPv4 is accepted by default", fix: firewallFix)) }
        if !policy.deniesIPv6 { parts.append(.fail("inbound IPv6 is accepted by default", fix: firewallFix)) }
        for rule in policy.acceptsAll {
            parts.append(.fail("a rule accepts every source on every port: `\(rule)`", fix: "remove that rule"))
        }

        var needed: Set<Int> = [sshPort]
        var statsPort: Int?
        if case .success(let facts)? = inputs.proxy {
            let ports = facts.listenPorts
            needed.formUnion(ports)
            for port in ports where !policy.isOpen(transport: "tcp", port: port) {
                parts.append(.fail("the proxy's port \(port) is not open: clients cannot connect", fix: "add \(port) to PROXY_PORTS in deploy/nftables.conf"))
            }
            statsPort = facts.statsListen.flatMap { HostPort($0)?.port }
        } else {
            parts.append(.unknown("without the proxy configuration the needed ports are not known", fix: "pass --proxy-config FILE"))
        }
        for item in policy.open {
            if let statsPort, item.transport == "tcp", item.ports.contains(statsPort) {
                parts.append(.fail("the stats port \(statsPort) is open to every source", fix: "allow it from loopback only (deploy/nftables.conf)"))
                continue
            }
            let extra = item.ports.count > 1 || item.transport != "tcp" || !needed.contains(item.ports.lowerBound)
            if extra {
                parts.append(.fail("\(item.description) is open but not needed", fix: "remove the rule that accepts \(item.description), or restrict it to the sources that need it"))
            }
        }
        if case .success(let auditor)? = inputs.auditor, let table = auditor.nftablesTable,
           ruleset.table(family: "inet", name: table) == nil {
            parts.append(.fail("the auditor's table inet \(table) is not loaded: its bans would not be enforced",
                               fix: "load deploy/nftables.conf, or start mtauditor"))
        }
        let opened = policy.open.map(\.description).joined(separator: ", ")
        return Finding.combine(parts.isEmpty ? [.pass("")] : parts,
                               passDetail: "inbound denied by default (IPv4 and IPv6); open to all: \(opened.isEmpty ? "nothing" : opened)")
    }
}
