import NIOCore

/// What one run drives through a relay. The same plan is used for every relay of a run.
public struct LoadPlan: Sendable {
    /// Where the relay under test listens.
    public var relay: SocketAddress
    public var encryption: PeerEncryption
    /// The proxy's 16-byte key (the secret without its `dd` prefix); unused in plain mode.
    public var secret: [UInt8]
    /// Set: the clients speak fake TLS with this domain as SNI (an `ee` secret), the
    /// obfuscated2 client inside the records.
    public var fakeTLSDomain: String?
    /// Clients come from 127.0.0.2, 127.0.0.3, …: this many distinct addresses.
    public var sourceAddresses: Int = 50
    /// Round trips before anything is measured, so lazy start-up costs are not counted.
    public var warmupConnections: Int = 200
    /// Connections opened, handshaked, answered once and held idle for the memory figure.
    public var idleConnections: Int = 5_000
    /// Connections, each a handshake and one `req_pq` round trip, for the setup figures.
    public var setupConnections: Int = 5_000
    /// Handshakes in flight at once, in the idle and setup phases.
    public var parallelSetups: Int = 16
    public var bulkConnections: Int = 8
    /// 32 KiB frames each bulk connection sends each way (4,096: 128 MiB).
    public var bulkFramesPerDirection: Int = 4_096
    /// Times the bulk phase runs; the report keeps the median round (a shared machine's
    /// noise moves single rounds by tens of percent) and lists every round's CPU-s/GiB.
    public var bulkRounds: Int = 3
    /// No single connection's work may take longer than this.
    public var connectionTimeout: TimeAmount = .seconds(60)

    public init(relay: SocketAddress, encryption: PeerEncryption, secret: [UInt8]) {
        self.relay = relay
        self.encryption = encryption
        self.secret = secret
    }

    /// What the peers speak, for the table.
    public var peers: String { fakeTLSDomain == nil ? encryption.rawValue : "faketls" }

    public var bulkBytes: Int {
        bulkConnections * 2 * bulkFramesPerDirection * BulkStream.frameLength
    }
}
