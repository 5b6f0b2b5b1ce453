/// The output of `nft list ruleset`, read for what the firewall check needs: tables,
/// their chains (hook, policy, rules as text) and the names of their sets.
struct NftablesRuleset {
    struct Chain {
        var name: String
        var type: String?
        var hook: String?
        var policy: String?
        var rules: [String] = []
    }

    struct Table {
        var family: String
        var name: String
        var chains: [Chain] = []
        var sets: [String] = []

        func chain(_ name: String) -> Chain? { chains.first { $0.name == name } }
    }

    var tables: [Table] = []

    func table(family: String, name: String) -> Table? {
        tables.first { $0.family == family && $0.name == name }
    }

    /// Parses the listing; what it does not understand (flowtables, objects) is skipped
    /// by its braces.
    init(listing: String) {
        var statements: [String] = []
        // One statement per line, except that a rule or declaration is carried on until
        // its braces close (long anonymous sets can wrap).
        var pending = ""
        var openBraces = 0
        for rawLine in listing.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = String(rawLine).trimming(" \t")
            if line.isEmpty || line.hasPrefix("#") { continue }
            if !pending.isEmpty {
                pending += " " + line
                openBraces += Self.braceBalance(line)
                if openBraces <= 0 { statements.append(pending); pending = ""; openBraces = 0 }
                continue
            }
            let balance = Self.braceBalance(line)
            // A block opener (`table …{`, `chain …{`, `set …{`) stands alone; a rule whose
            // inline set wraps has more opening than closing braces but does not end with `{`.
            if balance > 0 && !line.hasSuffix("{") {
                pending = line
                openBraces = balance
            } else {
                statements.append(line)
            }
        }
        if !pending.isEmpty { statements.append(pending) }

        enum Block { case table, chain, other }
        var stack: [Block] = []
        var table: Table?
        var chain: Chain?
        for statement in statements {
            let words = statement.split(separator: " ").map(String.init)
            if statement == "}" {
                switch stack.popLast() {
                case .table?:
                    if let finished = table { tables.append(finished) }
                    table = nil
                case .chain?:
                    if let finished = chain { table?.chains.append(finished) }
                    chain = nil
                default:
                    break
                }
                continue
            }
            if statement.hasSuffix("{") {
                if stack.isEmpty, words.first == "table", words.count >= 3 {
                    let hasFamily = words.count >= 4
                    table = Table(family: hasFamily ? words[1] : "ip", name: hasFamily ? words[2] : words[1])
                    stack.append(.table)
                } else if stack == [.table], words.first == "chain", words.count >= 3 {
                    chain = Chain(name: words[1])
                    stack.append(.chain)
                } else {
                    if stack == [.table], words.first == "set" || words.first == "map", words.count >= 3 {
                        table?.sets.append(words[1])
                    }
                    stack.append(.other)
                }
                continue
            }
            guard stack == [.table, .chain] else { continue }
            if words.first == "type" {
                chain?.type = words.count > 1 ? words[1] : nil
                if let index = words.firstIndex(of: "hook"), index + 1 < words.count { chain?.hook = words[index + 1] }
                if let index = words.firstIndex(of: "policy"), index + 1 < words.count {
                    chain?.policy = words[index + 1].trimming(";")
                }
            } else {
                chain?.rules.append(statement)
            }
        }
    }

    static func braceBalance(_ line: String) -> Int {
        line.reduce(0) { $0 + ($1 == "{" ? 1 : $1 == "}" ? -1 : 0) }
    }
}

extension String {
    func trimming(_ characters: String) -> String {
        var slice = Substring(self)
        while let first = slice.first, characters.contains(first) { slice = slice.dropFirst() }
        while let last = slice.last, characters.contains(last) { slice = slice.dropLast() }
        return String(slice)
    }
}
