import EventLog

/// What a rule's `match` section asks of one event field. Every condition of a rule
/// must hold for the event to count.
public indirect enum Condition: Sendable, Hashable {
    /// `field: value`
    case equals(EventField, String)
    /// `field: [a, b]` or `field: { in: [a, b] }`
    case oneOf(EventField, Set<String>)
    /// `field: { cidr: [203.0.113.0/24, 2001:db8::/32] }`: an address inside, or a
    /// `source.prefix` that lies wholly inside, one of the networks.
    case within(EventField, [CIDR])
    /// `field: { gte: 10000 }` and `lt`, `lte`, `gt`, `gte`, `ne`
    case compare(EventField, Comparison, Double)
    /// `field: { present: true }`
    case present(EventField, Bool)
    /// `field: { not: … }`: any of the forms above, negated. An absent field satisfies it.
    case not(Condition)

    public enum Comparison: String, Sendable, Hashable, CaseIterable {
        case lt, lte, gt, gte, ne

        func holds(_ value: Double, _ bound: Double) -> Bool {
            switch self {
            case .lt: value < bound
            case .lte: value <= bound
            case .gt: value > bound
            case .gte: value >= bound
            case .ne: value != bound
            }
        }
    }

    public func matches(_ event: Event) -> Bool {
        switch self {
        case .equals(let field, let expected):
            // `event.action` is compared without building a string: it is the filter
            // nearly every rule starts with.
            if case .action = field { return event.action.rawValue == expected }
            return field.text(of: event) == expected
        case .oneOf(let field, let values):
            guard let text = field.text(of: event) else { return false }
            return values.contains(text)
        case .within(let field, let networks):
            guard let text = field.text(of: event) else { return false }
            return Self.isWithin(text, networks)
        case .compare(let field, let comparison, let bound):
            guard let value = field.number(of: event) else { return false }
            return comparison.holds(value, bound)
        case .present(let field, let wanted):
            return (field.text(of: event) != nil) == wanted
        case .not(let inner):
            return !inner.matches(event)
        }
    }

    /// `event.action: x` or `event.action: [x, y]`: what the engine indexes rules by.
    var isActionFilter: Bool {
        switch self {
        case .equals(.action, _), .oneOf(.action, _): true
        default: false
        }
    }

    /// The field the condition reads.
    var field: EventField {
        switch self {
        case .equals(let field, _), .oneOf(let field, _), .within(let field, _), .compare(let field, _, _), .present(let field, _): field
        case .not(let inner): inner.field
        }
    }

    static func isWithin(_ text: String, _ networks: [CIDR]) -> Bool {
        if text.utf8.contains(UInt8(ascii: "/")) {
            guard let prefix = CIDR(text) else { return false }
            return networks.contains { $0.length <= prefix.length && $0.contains(prefix.network) }
        }
        guard let address = IPAddress(text) else { return false }
        return networks.contains { $0.contains(address) }
    }
}
