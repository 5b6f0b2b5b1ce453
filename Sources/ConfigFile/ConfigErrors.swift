/// Gathers every independent problem of one file, so that `check-config` can list them
/// all at once while loading still stops at the first.
public struct ConfigErrors: Sendable {
    public private(set) var all: [ConfigError] = []

    public init() {}

    public var isEmpty: Bool { all.isEmpty }

    public mutating func append(_ error: ConfigError) {
        all.append(error)
    }

    /// Runs `body`; an error it throws is recorded and the caller carries on.
    public mutating func collect(_ body: () throws(ConfigError) -> Void) {
        do {
            try body()
        } catch {
            all.append(error)
        }
    }

    /// The errors in file order (by line, then as found).
    public var sorted: [ConfigError] {
        all.enumerated().sorted { lhs, rhs in
            (lhs.element.line ?? 0, lhs.offset) < (rhs.element.line ?? 0, rhs.offset)
        }.map(\.element)
    }

    /// Throws the first error in file order, if any.
    public func throwFirst() throws(ConfigError) {
        if let first = sorted.first { throw first }
    }
}
