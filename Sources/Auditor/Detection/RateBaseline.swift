import DequeModule

/// `kind: anomaly` — a per-interval rate (matching events, or distinct values of a
/// field) compared with its own rolling history.
///
/// The interval in progress is compared as it fills, so an alert comes as soon as the
/// rate crosses `max(floor, mean + k·σ)`, once per interval. σ is at least √mean, the
/// spread a count shows by chance, so a flat history does not make every wobble an
/// anomaly. Cold start: no alert until `warmup` intervals are in the history, and values
/// far above the history's median are clamped before the mean and σ are taken, so an
/// attack already under way when the auditor starts does not become the norm. A closed
/// interval enters the history clamped to the limit it was held to, so an attack does
/// not teach the baseline that attacks are normal; a lasting genuine rise still raises
/// it, a step at a time.
final class RateBaseline {
    struct Alert: Sendable, Hashable {
        var intervalStart: Int64
        var observed: Double
        var mean: Double
        var sigma: Double
        var limit: Double
        /// The raw values of the closed intervals before this one, oldest first.
        var recent: [Double]
    }

    /// How many closed intervals are kept raw, for a report's chart.
    static let recentCapacity = 120

    let parameters: AnomalyParameters
    private var interval: Int64?
    // Unchecked, as `openEnd`: read or counted for every event, by the one engine that owns it.
    @exclusivity(unchecked) private var count = 0
    private var values: Set<String> = []
    private var history: Deque<Double> = []
    /// The last closed intervals as observed (not clamped), bounded by `recentCapacity`.
    private var recent: Deque<Double> = []
    private var limit: (value: Double, mean: Double, sigma: Double)?
    private var alerted = false
    /// Where the open interval ends (`.min` before the first event, or when the end is
    /// past `Int64.max`): a time before it closes nothing.
    @exclusivity(unchecked) private(set) var openEnd: Int64 = .min

    init(parameters: AnomalyParameters) {
        self.parameters = parameters
    }

    var current: Double {
        if case .distinct = parameters.measure { return Double(values.count) }
        return Double(count)
    }

    /// Counts one matching event. Events belonging to an interval already closed (out
    /// of order) count in the current one.
    func observe(value: String?, at time: Int64) -> (level: Double, alert: Alert?) {
        advance(to: time)
        switch parameters.measure {
        case .events: count += 1
        case .distinct:
            guard let value else { return (current, nil) }
            values.insert(value)
        }
        let observed = current
        guard !alerted, let limit, observed > limit.value, let interval else { return (observed, nil) }
        alerted = true
        return (observed, Alert(intervalStart: interval * parameters.intervalMilliseconds, observed: observed,
                                mean: limit.mean, sigma: limit.sigma, limit: limit.value, recent: Array(recent)))
    }

    /// Closes every interval that ends at or before `time`, empty ones counting as zero.
    func advance(to time: Int64) {
        // Called for every event: most fall in the open interval, found without dividing.
        if time < openEnd { return }
        let index = Self.floorDivide(time, parameters.intervalMilliseconds)
        guard let open = interval else {
            interval = index
            openEnd = Self.end(of: index, parameters.intervalMilliseconds)
            return
        }
        guard index > open else { return }
        close(current)
        let gaps = min(index - open - 1, Int64(parameters.history))
        for _ in 0..<gaps { close(0) }
        interval = index
        openEnd = Self.end(of: index, parameters.intervalMilliseconds)
        count = 0
        values.removeAll(keepingCapacity: true)
        alerted = false
    }

    private func close(_ observed: Double) {
        recent.append(observed)
        if recent.count > min(parameters.history, Self.recentCapacity) { recent.removeFirst() }
        history.append(min(observed, limit?.value ?? observed))
        if history.count > parameters.history { history.removeFirst() }
        guard history.count >= parameters.warmup else {
            limit = nil
            return
        }
        // Outliers (a cold start under attack, a burst the limit did not catch) are
        // clamped to median + k·(robust spread) before the mean and σ are taken, so a
        // few of them cannot lift the limit out of reach.
        let sorted = history.sorted()
        let median = Self.median(sorted)
        let deviation = Self.median(sorted.map { abs($0 - median) }.sorted())
        let cap = median + parameters.k * max(1.4826 * deviation, median.squareRoot(), 1)
        let clamped = history.map { min($0, cap) }
        let mean = clamped.reduce(0, +) / Double(clamped.count)
        let variance = clamped.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(clamped.count - 1)
        let sigma = max(variance.squareRoot(), mean.squareRoot())
        limit = (max(parameters.floor, mean + parameters.k * sigma), mean, sigma)
    }

    static func median(_ sorted: [Double]) -> Double {
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }

    private static func end(of index: Int64, _ length: Int64) -> Int64 {
        let (next, overflow) = index.addingReportingOverflow(1)
        let (end, further) = next.multipliedReportingOverflow(by: length)
        return overflow || further ? .min : end
    }

    static func floorDivide(_ value: Int64, _ divisor: Int64) -> Int64 {
        let quotient = value / divisor
        return value % divisor < 0 ? quotient - 1 : quotient
    }
}
