/// The figures of one relay's run, written by `mtbench load` as JSON and read back by
/// `mtbench table`.
public struct RunReport: Codable, Sendable {
    public var relay: String
    public var encryption: String
    public var idle: IdlePhase
    public var setup: SetupPhase
    public var bulk: BulkPhase
    public var errors: Int
    public var firstError: String?

    /// CPU seconds of each process over one phase, and the phase's wall time.
    public struct Cost: Codable, Sendable {
        public var wallSeconds: Double
        public var proxyCPUSeconds: Double
        public var fakeDCCPUSeconds: Double
        public var clientCPUSeconds: Double

        init(wall: Double, before: ProcessSet.Samples, after: ProcessSet.Samples) {
            wallSeconds = wall
            proxyCPUSeconds = after.proxy.cpuSeconds - before.proxy.cpuSeconds
            fakeDCCPUSeconds = after.fakeDC.cpuSeconds - before.fakeDC.cpuSeconds
            clientCPUSeconds = after.client.cpuSeconds - before.client.cpuSeconds
        }
    }

    public struct IdlePhase: Codable, Sendable {
        public var connections: Int
        public var proxyResidentBeforeKiB: Int
        public var proxyResidentAfterKiB: Int
        public var opening: Cost

        public var kibPerConnection: Double {
            connections > 0 ? Double(proxyResidentAfterKiB - proxyResidentBeforeKiB) / Double(connections) : .nan
        }
    }

    public struct SetupPhase: Codable, Sendable {
        public var connections: Int
        public var parallel: Int
        public var cost: Cost

        public var proxyCPUMillisecondsPerConnection: Double {
            connections > 0 ? cost.proxyCPUSeconds * 1000 / Double(connections) : .nan
        }

        public var setupsPerSecond: Double { Double(connections) / cost.wallSeconds }
    }

    public struct BulkPhase: Codable, Sendable {
        public var connections: Int
        /// Bulk bytes through the relay, both directions counted once each.
        public var bytes: Int
        public var cost: Cost
        /// The relay's CPU-s/GiB in every round; this phase is the median one.
        public var roundsCPUSecondsPerGiB: [Double]? = nil

        public var gibibytes: Double { Double(bytes) / Double(1 << 30) }
        public var proxyCPUSecondsPerGiB: Double { cost.proxyCPUSeconds / gibibytes }
        public var mebibytesPerSecond: Double { Double(bytes) / Double(1 << 20) / cost.wallSeconds }
    }
}
