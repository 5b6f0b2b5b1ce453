import NIOCore
import NIOPosix
import Synchronization

/// Drives one relay through the phases of a `LoadPlan`, sampling the relay's and the peers'
/// processes before and after each phase. The load runs on one event-loop thread.
public final class LoadRunner: Sendable {
    private let plan: LoadPlan
    private let processes: ProcessSet
    private let group: MultiThreadedEventLoopGroup
    private let failures = Mutex<(count: Int, first: String?)>((0, nil))
    private let log: @Sendable (String) -> Void

    public init(plan: LoadPlan, processes: ProcessSet, log: @escaping @Sendable (String) -> Void) {
        self.plan = plan
        self.processes = processes
        self.log = log
        group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    }

    public func shutdown() async throws {
        try await group.shutdownGracefully()
    }

    public func run(relayName: String) async throws -> RunReport {
        log("\(relayName): warm-up, \(plan.warmupConnections) round trips")
        _ = await roundTrips(count: plan.warmupConnections)
        let idle = try await idlePhase()
        log("\(relayName): idle, \(idle.connections) connections held, proxy RSS \(idle.proxyResidentBeforeKiB) -> \(idle.proxyResidentAfterKiB) KiB")
        let setup = try await setupPhase()
        log("\(relayName): setup, \(setup.connections) round trips in \(formatted(setup.cost.wallSeconds)) s")
        var rounds: [RunReport.BulkPhase] = []
        for round in 1...max(1, plan.bulkRounds) {
            let bulk = try await bulkPhase()
            log("\(relayName): bulk round \(round), \(bulk.bytes >> 20) MiB in \(formatted(bulk.cost.wallSeconds)) s, proxy \(formatted(bulk.proxyCPUSecondsPerGiB, digits: 3)) CPU-s/GiB")
            rounds.append(bulk)
        }
        let byCost = rounds.sorted { $0.proxyCPUSecondsPerGiB < $1.proxyCPUSecondsPerGiB }
        var bulk = byCost[byCost.count / 2]
        bulk.roundsCPUSecondsPerGiB = rounds.map(\.proxyCPUSecondsPerGiB)
        let (errors, first) = failures.withLock { $0 }
        return RunReport(relay: relayName, encryption: plan.peers,
                         idle: idle, setup: setup, bulk: bulk, errors: errors, firstError: first)
    }

    private func idlePhase() async throws -> RunReport.IdlePhase {
        try await settle()
        let before = try processes.sample()
        let start = ContinuousClock.now
        let channels = await openIdle(count: plan.idleConnections)
        let wall = seconds(since: start)
        try await settle(.seconds(1))
        let after = try processes.sample()
        for channel in channels { channel.close(promise: nil) }
        for channel in channels { try? await channel.closeFuture.get() }
        try await settle(.seconds(1))
        return RunReport.IdlePhase(connections: channels.count,
                                   proxyResidentBeforeKiB: before.proxy.residentKiB,
                                   proxyResidentAfterKiB: after.proxy.residentKiB,
                                   opening: RunReport.Cost(wall: wall, before: before, after: after))
    }

    private func setupPhase() async throws -> RunReport.SetupPhase {
        let before = try processes.sample()
        let start = ContinuousClock.now
        let completed = await roundTrips(count: plan.setupConnections)
        let wall = seconds(since: start)
        try await settle()
        let after = try processes.sample()
        return RunReport.SetupPhase(connections: completed, parallel: plan.parallelSetups,
                                    cost: RunReport.Cost(wall: wall, before: before, after: after))
    }

    private func bulkPhase() async throws -> RunReport.BulkPhase {
        let frames = plan.bulkFramesPerDirection
        let before = try processes.sample()
        let start = ContinuousClock.now
        let completed = await withTaskGroup(of: Bool.self) { tasks in
            for index in 0..<plan.bulkConnections {
                tasks.addTask {
                    await self.complete(.bulk(uploadFrames: frames, downloadFrames: frames), source: index, holdOpen: false) != nil
                }
            }
            return await tasks.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        let wall = seconds(since: start)
        try await settle()
        let after = try processes.sample()
        return RunReport.BulkPhase(connections: completed,
                                   bytes: completed * 2 * frames * BulkStream.frameLength,
                                   cost: RunReport.Cost(wall: wall, before: before, after: after))
    }

    /// `count` handshakes, each with one round trip, then closed; returns how many succeeded.
    private func roundTrips(count: Int) async -> Int {
        await inParallel(count: count) { index in
            guard let channel = await self.complete(.roundTrip, source: index, holdOpen: false) else { return 0 }
            _ = channel
            return 1
        }.reduce(0, +)
    }

    private func openIdle(count: Int) async -> [any Channel] {
        await inParallel(count: count) { index in
            await self.complete(.roundTrip, source: index, holdOpen: true)
        }.compactMap { $0 }
    }

    /// Runs `body` for indices 0..<count with `parallelSetups` in flight at once.
    private func inParallel<Result: Sendable>(count: Int, _ body: @escaping @Sendable (Int) async -> Result) async -> [Result] {
        let lanes = max(1, min(plan.parallelSetups, count))
        return await withTaskGroup(of: [Result].self) { tasks in
            for lane in 0..<lanes {
                tasks.addTask {
                    var results: [Result] = []
                    for index in stride(from: lane, to: count, by: lanes) {
                        results.append(await body(index))
                    }
                    return results
                }
            }
            return await tasks.reduce(into: []) { $0 += $1 }
        }
    }

    /// Opens one connection, does `work`, and returns the channel when it succeeded; the
    /// channel is closed (and its close awaited) unless `holdOpen`.
    private func complete(_ work: LoadConnectionHandler.Work, source: Int, holdOpen: Bool) async -> (any Channel)? {
        let loop = group.next()
        let outcome = loop.makePromise(of: Void.self)
        let plan = self.plan
        let sourceAddress = "127.0.0.\(2 + source % max(1, min(plan.sourceAddresses, 250)))"
        do {
            let channel = try await ClientBootstrap(group: loop)
                .connectTimeout(.seconds(10))
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelOption(.writeBufferWaterMark, value: .init(low: 256 << 10, high: 1 << 20))
                .bind(to: try SocketAddress(ipAddress: sourceAddress, port: 0))
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if let domain = plan.fakeTLSDomain {
                            try channel.pipeline.syncOperations.addHandler(
                                FakeTLSClientHandler(key: plan.secret, domain: domain))
                        }
                        try channel.pipeline.syncOperations.addHandler(
                            LoadConnectionHandler(work: work, encryption: plan.encryption, secret: plan.secret, outcome: outcome))
                    }
                }
                .connect(to: plan.relay).get()
            let deadline = loop.scheduleTask(in: plan.connectionTimeout) {
                outcome.fail(BenchmarkError.timedOut("a connection's work"))
                channel.close(promise: nil)
            }
            do {
                try await outcome.futureResult.get()
                deadline.cancel()
            } catch {
                deadline.cancel()
                record(error)
                channel.close(promise: nil)
                return nil
            }
            if !holdOpen {
                channel.close(promise: nil)
                try? await channel.closeFuture.get()
            }
            return channel
        } catch {
            outcome.fail(error)
            record(error)
            return nil
        }
    }

    private func record(_ error: any Error) {
        failures.withLock {
            $0.count += 1
            if $0.first == nil { $0.first = "\(error)" }
        }
    }

    private func settle(_ duration: Duration = .milliseconds(300)) async throws {
        try await Task.sleep(for: duration)
    }
}

func seconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
}

func formatted(_ value: Double, digits: Int = 2) -> String {
    let scale = (0..<digits).reduce(1.0) { value, _ in value * 10 }
    return "\((value * scale).rounded() / scale)"
}
