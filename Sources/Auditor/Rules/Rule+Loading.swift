import ConfigFile
import EventLog

extension Rule {
    static let keys: Set<String> = [
        "name", "description", "kind", "match", "group_by", "window", "count", "capacity", "leak",
        "distinct", "anomaly", "ban",
    ]
    /// The keys each kind takes beyond the common ones; any other is an error, so that a
    /// `window:` on a leaky rule is not silently ignored.
    static let kindKeys: [String: Set<String>] = [
        "threshold": ["window", "count"],
        "leaky": ["capacity", "leak"],
        "distinct": ["window", "count", "distinct"],
        "trigger": [],
        "anomaly": ["anomaly"],
    ]
    static let longestWindow = Duration.seconds(7 * 86_400)

    /// Loads one rule file, strictly: unknown keys and bad values are errors naming
    /// file, line and key.
    public static func load(path: String) throws(ConfigError) -> Rule {
        try Rule(config: try ConfigDocument.load(path: path))
    }

    public static func parse(yaml: String, file: String) throws(ConfigError) -> Rule {
        try Rule(config: try ConfigDocument.parse(yaml: yaml, file: file))
    }

    init(config root: ConfigValue) throws(ConfigError) {
        let rule = try root.mapping(keys: Self.keys)
        let name = try rule.required("name").string(expected: "a name of lower-case letters, digits, '-', '_' or '.'") {
            Self.isValidName($0)
        }
        let description = try rule.optional("description") { value throws(ConfigError) in try value.string() } ?? ""
        let kindValue = try rule.required("kind")
        let kindName = try kindValue.string(expected: "one of \(Self.kindKeys.keys.sorted().joined(separator: ", "))") {
            Self.kindKeys[$0] != nil
        }
        let allowed = Self.kindKeys[kindName]!
        for key in Self.keys.subtracting(["name", "description", "kind", "match", "group_by", "ban"]).sorted()
        where rule.contains(key) && !allowed.contains(key) {
            let value = try rule.required(key)
            throw value.error("not used by \(kindName) rules" + (allowed.isEmpty ? "" : " (they take \(allowed.sorted().joined(separator: ", ")))"))
        }

        let conditions = try rule.optional("match") { value throws(ConfigError) in try Self.conditions(value) } ?? []
        var groupBy: [EventField] = []
        if let value = rule["group_by"] {
            groupBy = try value.list { item throws(ConfigError) in try Self.field(item) }
            if groupBy.isEmpty { throw value.error("must name at least one field") }
            if Set(groupBy).count != groupBy.count { throw value.error("names a field twice") }
        }

        let kind: Kind
        switch kindName {
        case "threshold":
            kind = .threshold(count: try rule.required("count").int(in: 1...1_000_000),
                              windowMilliseconds: try Self.milliseconds(rule.required("window")))
        case "leaky":
            kind = .leaky(capacity: try rule.required("capacity").int(in: 1...1_000_000),
                          leakMilliseconds: try Self.milliseconds(rule.required("leak")))
        case "distinct":
            kind = .distinct(field: try Self.field(rule.required("distinct")),
                             count: try rule.required("count").int(in: 2...1_000_000),
                             windowMilliseconds: try Self.milliseconds(rule.required("window")))
        case "trigger":
            kind = .trigger
        default:
            kind = .anomaly(try Self.anomaly(rule.required("anomaly")))
        }
        if case .anomaly = kind {
            if rule.contains("group_by") { throw try rule.required("group_by").error("anomaly rules measure the whole log; they take no group_by") }
            if rule.contains("ban") { throw try rule.required("ban").error("anomaly rules report only; they cannot ban") }
        } else if groupBy.isEmpty {
            throw ConfigError(file: root.file, line: root.line, key: "group_by", message: "required key is missing")
        }

        let ban = try rule.optional("ban") { value throws(ConfigError) in try Self.ban(value, groupBy: groupBy) }
        self.init(name: name, description: description, file: root.file, conditions: conditions,
                  groupBy: groupBy, kind: kind, ban: ban)
    }

    static func isValidName(_ text: String) -> Bool {
        guard let first = text.utf8.first, text.utf8.count <= 64,
              (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first)
        else { return false }
        return text.utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ".")
        }
    }

    static func field(_ value: ConfigValue) throws(ConfigError) -> EventField {
        let text = try value.string()
        guard let field = EventField(name: text) else {
            let known = EventField.named.keys
            var message = "unknown event field \(ConfigText.quoted(text))"
            if let near = ConfigText.nearest(to: text, among: known) { message += " (did you mean \(near)?)" }
            throw value.error(message + "; expected one of \(known.sorted().joined(separator: ", ")) or labels.NAME")
        }
        return field
    }

    static func milliseconds(_ value: ConfigValue) throws(ConfigError) -> Int64 {
        ConfigText.milliseconds(try value.duration(in: .milliseconds(1)...longestWindow))
    }

    static func number(_ value: ConfigValue, in range: ClosedRange<Double>) throws(ConfigError) -> Double {
        let text = try value.scalarText(expected: "a number")
        guard let number = Double(text), number.isFinite else {
            throw value.error("expected a number, found \(ConfigText.quoted(text))")
        }
        guard range.contains(number) else {
            throw value.error("must be between \(range.lowerBound) and \(range.upperBound), found \(text)")
        }
        return number
    }

    // MARK: match

    static let conditionKeys: Set<String> = ["equals", "in", "cidr", "lt", "lte", "gt", "gte", "ne", "present", "not"]

    static func conditions(_ value: ConfigValue) throws(ConfigError) -> [Condition] {
        var conditions: [Condition] = []
        for entry in try value.entries() {
            let field = try field(entry.keyValue)
            conditions += try fieldConditions(field, entry.value)
        }
        // The cheap, selective `event.action` test first.
        return conditions.filter { if case .equals(.action, _) = $0 { true } else { false } }
            + conditions.filter { if case .equals(.action, _) = $0 { false } else { true } }
    }

    /// A scalar is `equals`, a list is `in`, a mapping holds one or more operators.
    static func fieldConditions(_ field: EventField, _ value: ConfigValue) throws(ConfigError) -> [Condition] {
        if value.isList { return [try oneOf(field, value)] }
        if value.isNull { throw value.error("expected a value, a list of values or a mapping of operators, found nothing") }
        if let text = try? value.scalarText(expected: "a value") { return [.equals(field, text)] }
        do {
            let operators = try value.mapping(keys: conditionKeys)
            var conditions: [Condition] = []
            for key in conditionKeys.sorted() {
                guard let operand = operators[key] else {
                    if operators.contains(key) {
                        let path = operators.value.keyPath + "." + key
                        throw ConfigError(file: value.file, line: value.line, key: path, message: "expected a value, found nothing")
                    }
                    continue
                }
                switch key {
                case "equals": conditions.append(.equals(field, try operand.scalarText(expected: "a value")))
                case "in": conditions.append(try oneOf(field, operand))
                case "cidr":
                    guard field.isAddress, field != .sourceIPHash else {
                        throw operand.error("cidr applies to source.ip, source.prefix or source.address, not \(field)")
                    }
                    let items = operand.isList ? try operand.list() : [operand]
                    var networks: [CIDR] = []
                    for item in items {
                        let text = try item.string()
                        guard let network = CIDR(text) else {
                            throw item.error("expected an address or network such as 203.0.113.0/24, found \(ConfigText.quoted(text)) (host bits must be zero)")
                        }
                        networks.append(network)
                    }
                    conditions.append(.within(field, networks))
                case "present": conditions.append(.present(field, try operand.bool()))
                case "not":
                    let inner = try fieldConditions(field, operand)
                    conditions += inner.map { Condition.not($0) }
                default:
                    guard field.isNumeric else {
                        throw operand.error("\(key) compares numbers; \(field) is not numeric")
                    }
                    conditions.append(.compare(field, Condition.Comparison(rawValue: key)!,
                                               try number(operand, in: -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude)))
                }
            }
            if conditions.isEmpty { throw value.error("expected at least one of \(conditionKeys.sorted().joined(separator: ", "))") }
            return conditions
        }
    }

    static func oneOf(_ field: EventField, _ value: ConfigValue) throws(ConfigError) -> Condition {
        let items = try value.list { item throws(ConfigError) in try item.scalarText(expected: "a value") }
        if items.isEmpty { throw value.error("an empty list matches nothing") }
        return .oneOf(field, Set(items))
    }

    // MARK: anomaly and ban

    static func anomaly(_ value: ConfigValue) throws(ConfigError) -> AnomalyParameters {
        let section = try value.mapping(keys: ["measure", "field", "interval", "history", "warmup", "k", "floor"])
        let measureValue = try section.required("measure")
        let measure: AnomalyParameters.Measure
        switch try measureValue.string(expected: "events or distinct", where: { $0 == "events" || $0 == "distinct" }) {
        case "events":
            if section.contains("field") { throw try section.required("field").error("only used with measure: distinct") }
            measure = .events
        default:
            measure = .distinct(try field(section.required("field")))
        }
        let history = try section.optional("history") { value throws(ConfigError) in try value.int(in: 3...100_000) } ?? 60
        let warmup = try section.optional("warmup") { value throws(ConfigError) in try value.int(in: 2...100_000) } ?? min(history, 12)
        if warmup > history {
            throw try section.required("warmup").error("must not exceed history (\(history))")
        }
        return AnomalyParameters(
            measure: measure,
            intervalMilliseconds: try section.optional("interval") { value throws(ConfigError) in try milliseconds(value) } ?? 10_000,
            history: history,
            warmup: warmup,
            k: try section.optional("k") { value throws(ConfigError) in try number(value, in: 0.5...100) } ?? 4,
            floor: try number(section.required("floor"), in: 0...1e12))
    }

    static func ban(_ value: ConfigValue, groupBy: [EventField]) throws(ConfigError) -> BanPolicy {
        let section = try value.mapping(keys: ["target", "duration", "factor", "maximum"])
        let target: EventField
        if let targetValue = section["target"] {
            target = try field(targetValue)
            guard target.isAddress else {
                throw targetValue.error("a ban names an address: source.ip, source.prefix, source.ip_hash or source.address")
            }
            guard groupBy.contains(target) else { throw targetValue.error("must be one of the group_by fields") }
        } else {
            guard let first = groupBy.first(where: \.isAddress) else {
                throw value.error("group_by has no address field to ban (source.ip, source.prefix, source.ip_hash, source.address)")
            }
            target = first
        }
        let duration = try milliseconds(section.required("duration"))
        let factor = try section.optional("factor") { value throws(ConfigError) in try number(value, in: 1...100) } ?? 2
        let maximum = try section.optional("maximum") { value throws(ConfigError) in
            ConfigText.milliseconds(try value.duration(in: .milliseconds(1)...Duration.seconds(365 * 86_400)))
        } ?? max(duration, 7 * 86_400_000)
        if maximum < duration { throw try section.required("maximum").error("must be at least the duration") }
        return BanPolicy(target: target, durationMilliseconds: duration, factor: factor, maximumMilliseconds: maximum)
    }
}
