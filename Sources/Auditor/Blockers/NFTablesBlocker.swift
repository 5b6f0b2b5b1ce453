import EventLog
import Synchronization

/// The `nftables` blocker: a table the project owns (`inet mtshield` by default) with four
/// sets — single IPv4 and IPv6 addresses, IPv4 and IPv6 networks — whose elements carry
/// their own timeouts, and an input chain that drops traffic from all of them.
///
/// Every batch is one `nft -f -` transaction, so a batch applies whole or not at all. A new
/// ban is one element in one `add element` statement per set; only lifts, and bans of values
/// that may still be in a set (see `ElementLedger`), take the add–delete–add form. When a
/// batch fails but the table is there, the batch is split in halves until the values that
/// nft refuses are found (an overlapping network, say); the rest is applied, and those values
/// are reported for a retry. `ip_hash` values cannot be matched by the kernel and are never
/// given to this blocker. Nothing outside the table is read or changed.
public struct NFTablesBlocker: Blocker {
    public let name = "nftables"
    public let table: String
    /// The argument vector that runs nft; `nft` normally, `ip netns exec NS nft` in tests.
    public let command: [String]
    public let timeout: Duration
    /// Longer element timeouts are refused by nft; longer bans get an element without a
    /// timeout, removed when the decision ends.
    static let longestElementTimeout: Int64 = 365 * 86_400_000
    /// Shared by every copy of this blocker: what it has put in the sets.
    let ledger = ElementLedger()

    /// `table` is a bare nftables identifier (letters, digits, `_`).
    public init(table: String = "mtshield", command: [String] = ["nft"], timeout: Duration = .seconds(30)) throws(AuditorError) {
        guard let first = table.unicodeScalars.first, first.properties.isAlphabetic, first.isASCII,
              table.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_") }),
              table.count <= 64
        else {
            throw AuditorError.blocker(name: "nftables", message: "table \"\(table)\" is not an nftables name (letters, digits and _, starting with a letter)")
        }
        guard !command.isEmpty else { throw AuditorError.blocker(name: "nftables", message: "empty nft command") }
        self.table = table
        self.command = command
        self.timeout = timeout
    }

    public func accepts(_ scope: Decision.Scope) -> Bool { scope != .ipHash }

    public func synchronize(active: [Decision], now: Int64) async throws(AuditorError) {
        var script = """
            table inet \(table)
            delete table inet \(table)
            table inet \(table) {
                set addr4 { type ipv4_addr; flags timeout; }
                set net4 { type ipv4_addr; flags interval, timeout; }
                set addr6 { type ipv6_addr; flags timeout; }
                set net6 { type ipv6_addr; flags interval, timeout; }
                chain input {
                    type filter hook input priority filter - 10; policy accept;
                    ip saddr @addr4 drop
                    ip saddr @net4 drop
                    ip6 saddr @addr6 drop
                    ip6 saddr @net6 drop
                }
            }

            """
        var elements = Elements()
        let installed = Self.withoutNestedNetworks(active.filter { $0.until > now })
        for (target, until) in installed {
            elements.insert(target, text: "\(target.text)\(Self.timeoutClause(until: until, now: now))")
        }
        elements.write(verb: "add", table: table, to: &script)
        ledger.forget()
        try await runScript(script)
        ledger.rebuilt(installed.map { ($0.0, Self.kernelExpiry(until: $0.1, now: now)) })
    }

    public func apply(added: [Decision], removed: [Decision], now: Int64) async throws(AuditorError) {
        let changes = Self.changes(added: added, removed: removed, now: now)
        guard !changes.isEmpty else { return }
        do {
            try await run(changes, now: now)
        } catch {
            // The table itself gone or nft missing: nothing to split; synchronize instead.
            guard changes.count > 1, (try? await runNFT(["list", "chain", "inet", table, "input"])) != nil else {
                ledger.forget()
                throw error
            }
            var refused: [String] = []
            await split(changes, now: now, refused: &refused)
            if !refused.isEmpty {
                throw AuditorError.blocker(name: name, message: "nft refused \(refused.count) of \(changes.count) changes: \(error.description)",
                                           values: refused)
            }
        }
    }

    // MARK: Script

    struct Target: Hashable {
        enum Set: String, CaseIterable { case addr4, net4, addr6, net6 }
        var set: Set
        var text: String
        var network: CIDR?
    }

    struct Change {
        var target: Target
        var value: String
        /// nil: lift it.
        var until: Int64?
    }

    /// Elements by set, written as one `add element` or `delete element` statement per set.
    struct Elements {
        var bySet: [Target.Set: [String]] = [:]

        mutating func insert(_ target: Target, text: String) { bySet[target.set, default: []].append(text) }

        func write(verb: String, table: String, to script: inout String) {
            for set in Target.Set.allCases {
                guard let elements = bySet[set], !elements.isEmpty else { continue }
                script += "\(verb) element inet \(table) \(set.rawValue) { "
                script += elements.joined(separator: ", ")
                script += " }\n"
            }
        }
    }

    static func target(_ value: String) -> Target? {
        if let address = IPAddress(value) {
            return Target(set: address.isIPv4 ? .addr4 : .addr6, text: address.description)
        }
        guard let network = CIDR(value) else { return nil }
        if network.length == network.network.bitWidth {
            return Target(set: network.network.isIPv4 ? .addr4 : .addr6, text: network.network.description)
        }
        return Target(set: network.network.isIPv4 ? .net4 : .net6, text: network.description, network: network)
    }

    /// One change per element: a value written two ways (`192.0.2.1`, `192.0.2.1/32`) is one
    /// element, and nft refuses to delete an element twice in a statement; the ban wins.
    static func changes(added: [Decision], removed: [Decision], now: Int64) -> [Change] {
        var changes: [Change] = []
        var indexByTarget: [Target: Int] = [:]
        func record(_ change: Change) {
            if let index = indexByTarget[change.target] {
                changes[index] = change
            } else {
                indexByTarget[change.target] = changes.count
                changes.append(change)
            }
        }
        for decision in removed {
            // An element whose timeout ran out is gone from the kernel already.
            if decision.until <= now && decision.until - decision.created <= longestElementTimeout { continue }
            if let target = target(decision.value) { record(Change(target: target, value: decision.value, until: nil)) }
        }
        for decision in added where decision.until > now {
            if let target = target(decision.value) { record(Change(target: target, value: decision.value, until: decision.until)) }
        }
        return changes
    }

    /// A value the ledger says is not in its set is added with its timeout, nothing more. A lift,
    /// or a ban of a value that may be there, is added first (which makes deleting it safe
    /// whether or not it is there: nft has no "delete if present" before 1.0.8), deleted (which
    /// makes a new timeout take effect on kernels that keep an element's timeout on `add`),
    /// and, for a ban, added again with its timeout.
    func script(for changes: [Change], now: Int64) -> String {
        var touched = Elements()
        var added = Elements()
        let margin = Self.expiryMargin(timeout)
        ledger.read { ledger in
            for change in changes {
                if change.until == nil || ledger.mayHold(change.target, now: now, margin: margin) {
                    touched.insert(change.target, text: change.target.text)
                }
                if let until = change.until {
                    added.insert(change.target, text: "\(change.target.text)\(Self.timeoutClause(until: until, now: now))")
                }
            }
        }
        var script = ""
        touched.write(verb: "add", table: table, to: &script)
        touched.write(verb: "delete", table: table, to: &script)
        added.write(verb: "add", table: table, to: &script)
        return script
    }

    /// nft refuses overlapping intervals in a set: a network inside another banned network is
    /// left out, and the outer one lasts as long as the longest of them.
    static func withoutNestedNetworks(_ decisions: [Decision]) -> [(Target, Int64)] {
        var addresses: [Target: Int64] = [:]
        var networks: [(target: Target, until: Int64)] = []
        for decision in decisions {
            guard let target = target(decision.value) else { continue }
            if target.network == nil {
                addresses[target] = max(addresses[target] ?? .min, decision.until)
            } else {
                networks.append((target, decision.until))
            }
        }
        networks.sort { ($0.target.network!.length, $0.target.text) < ($1.target.network!.length, $1.target.text) }
        var kept: [(target: Target, until: Int64)] = []
        for candidate in networks {
            let inner = candidate.target.network!
            if let outer = kept.firstIndex(where: { kept in
                let network = kept.target.network!
                return network.network.isIPv4 == inner.network.isIPv4 && network.contains(inner.network)
            }) {
                kept[outer].until = max(kept[outer].until, candidate.until)
            } else {
                kept.append(candidate)
            }
        }
        return addresses.sorted { $0.key.text < $1.key.text }.map { ($0.key, $0.value) } + kept.map { ($0.target, $0.until) }
    }

    /// When the kernel drops an element banned until `until` by itself; `.max` for an element
    /// without a timeout, which stays until it is lifted.
    static func kernelExpiry(until: Int64, now: Int64) -> Int64 {
        until - now <= longestElementTimeout ? until : .max
    }

    /// An element's kernel timeout starts when nft commits, up to one nft run after `now`:
    /// the ledger counts an element as possibly there for that long past its expiry.
    static func expiryMargin(_ timeout: Duration) -> Int64 {
        timeout.components.seconds * 1_000 + 1_000
    }

    static func timeoutClause(until: Int64, now: Int64) -> String {
        let remaining = until - now
        guard remaining <= longestElementTimeout else { return "" }
        return " timeout " + duration(max(remaining, 1))
    }

    /// nft's duration syntax (`1d2h3m4s5ms`): it refuses one large figure in a single unit.
    static func duration(_ milliseconds: Int64) -> String {
        var left = milliseconds
        var text = ""
        for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] where left >= size {
            text += "\(left / size)\(unit)"
            left %= size
        }
        return text
    }

    private func split(_ changes: [Change], now: Int64, refused: inout [String]) async {
        if changes.count == 1 {
            if (try? await run(changes, now: now)) == nil { refused.append(changes[0].value) }
            return
        }
        let half = changes.count / 2
        for part in [Array(changes[..<half]), Array(changes[half...])] {
            if (try? await run(part, now: now)) == nil { await split(part, now: now, refused: &refused) }
        }
    }

    // MARK: Running nft

    /// Applies `changes` as one transaction and, once nft has committed them, enters them in the ledger.
    private func run(_ changes: [Change], now: Int64) async throws(AuditorError) {
        try await runScript(script(for: changes, now: now))
        ledger.applied(changes.map { ($0.target, $0.until.map { Self.kernelExpiry(until: $0, now: now) }) },
                       now: now, margin: Self.expiryMargin(timeout))
    }

    private func runScript(_ script: String) async throws(AuditorError) {
        _ = try await runNFT(["-f", "-"], input: Array(script.utf8))
    }

    @discardableResult
    private func runNFT(_ arguments: [String], input: [UInt8] = []) async throws(AuditorError) -> [UInt8] {
        let result: ChildProcess.Result
        do {
            result = try await ChildProcess.runOffloaded(command + arguments, input: input, timeout: timeout)
        } catch {
            throw AuditorError.blocker(name: name, message: error.message)
        }
        guard result.succeeded else {
            throw AuditorError.blocker(name: name, message: "\((command + arguments.prefix(1)).joined(separator: " ")) \(result.failure)")
        }
        return result.output
    }
}

/// What an `NFTablesBlocker` has put in its sets since it last rebuilt them, and when the
/// kernel drops each element: a value not there takes a single `add element`, the cheap
/// path; only a value that may still be there needs delete-and-add for its new timeout to
/// take effect (older kernels keep an existing element's timeout on `add`; 6.18 updates it).
/// Until a synchronization succeeds, and after a failure that leaves the sets unknown,
/// every value may be there.
final class ElementLedger: Sendable {
    struct Entries {
        var known = false
        var expiries: [NFTablesBlocker.Target: Int64] = [:]
        /// Entries kept at the last sweep of expired ones: the next sweep waits until the
        /// ledger has grown well past it, so sweeping costs O(1) per change.
        var keptAtSweep = 0

        func mayHold(_ target: NFTablesBlocker.Target, now: Int64, margin: Int64) -> Bool {
            guard known else { return true }
            guard let expiry = expiries[target] else { return false }
            return expiry > now - margin
        }
    }

    private let entries = Mutex(Entries())

    func read<Value>(_ body: (Entries) -> Value) -> Value {
        entries.withLock { body($0) }
    }

    /// The sets' contents are unknown until the next `rebuilt`.
    func forget() {
        entries.withLock { $0 = Entries() }
    }

    /// The sets were just rebuilt with exactly these elements.
    func rebuilt(_ elements: [(NFTablesBlocker.Target, Int64)]) {
        entries.withLock { entries in
            entries = Entries(known: true, expiries: Dictionary(elements) { max($0, $1) }, keptAtSweep: elements.count)
        }
    }

    /// Changes nft committed: an expiry for a ban, nil for a lift.
    func applied(_ changes: [(NFTablesBlocker.Target, Int64?)], now: Int64, margin: Int64) {
        entries.withLock { entries in
            guard entries.known else { return }
            for (target, expiry) in changes { entries.expiries[target] = expiry }
            if entries.expiries.count > 2 * entries.keptAtSweep + 4_096 {
                entries.expiries = entries.expiries.filter { $0.value > now - margin }
                entries.keptAtSweep = entries.expiries.count
            }
        }
    }

    var count: Int { entries.withLock { $0.expiries.count } }
}
