import Dispatch
import Foundation
import Logging
import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The event log writer: an `EventSink` whose `emit` only appends to a bounded
/// in-memory queue, and a thread of its own that applies the privacy policy, encodes
/// and appends whole batches to the file (or standard output). Woken by the first event
/// after a quiet spell, the thread gathers for `batchInterval` before it writes, so a
/// busy proxy pays one wake-up and one write per interval rather than per event; a
/// queue half full, `flush`, `reopen` and `shutdown` cut the wait short.
///
/// When the queue is full, new events are dropped and counted; once the writer catches
/// up it writes one `events.dropped` event (`labels.dropped`) and reports the count to
/// `onDrop`. The file is reopened on `reopen()` (SIGHUP) and, on its own, when the path
/// no longer names the open file (logrotate renamed or removed it).
public final class EventWriter: EventSink {
    public enum Destination: Sendable, Hashable {
        case standardOutput
        /// Appended to, created with mode 0640 if missing.
        case file(String)

        /// `events.path`: "-" is standard output.
        public init(path: String) {
            self = path == "-" ? .standardOutput : .file(path)
        }
    }

    private struct Queue {
        var pending: [Event] = []
        var droppedSinceReport: UInt64 = 0
        var droppedTotal: UInt64 = 0
        var accepted: UInt64 = 0
        var handled: UInt64 = 0
        var writerIsWaiting = false
        /// The writer is gathering a batch: wake it only if the queue runs half full.
        var writerIsGathering = false
        var reopenRequested = false
        var stopping = false
        var finished = false
        var flushWaiters: [(target: UInt64, signal: DispatchSemaphore)] = []
    }

    private let queue: Mutex<Queue>
    private let capacity: Int
    private let wakeUp = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)
    private let output: EventOutput
    private let privacy: PrivacyPolicy
    private let instance: String?
    private let now: @Sendable () -> Int64
    private let onDrop: @Sendable (UInt64) -> Void
    private let rotationCheckMilliseconds: Int
    private let batchMilliseconds: Int

    /// Opens the destination (throws `EventLogError` if it cannot) and starts the writer thread.
    /// - Parameters:
    ///   - queueCapacity: events held before new ones are dropped (`events.queue_capacity`).
    ///   - instance: `proxy.instance` of the writer's own `events.dropped` events.
    ///   - rotationCheckInterval: how often the path is compared with the open file.
    ///   - batchInterval: the longest an event waits in the queue for others to join it
    ///     (unless the queue runs half full or a flush asks for it).
    ///   - now: wall clock in Unix milliseconds, for the writer's own events.
    ///   - onDrop: called on the writer thread with each batch of dropped events
    ///     (wire it to `ProxyStats.eventsDropped`).
    public init(
        destination: Destination,
        privacy: PrivacyPolicy,
        queueCapacity: Int,
        instance: String? = nil,
        logger: Logger,
        rotationCheckInterval: Duration = .seconds(1),
        batchInterval: Duration = .milliseconds(10),
        now: @escaping @Sendable () -> Int64 = Event.nowMilliseconds,
        onDrop: @escaping @Sendable (UInt64) -> Void = { _ in }
    ) throws {
        self.output = try EventOutput(destination: destination, logger: logger)
        self.capacity = max(1, queueCapacity)
        self.privacy = privacy
        self.instance = instance
        self.now = now
        self.onDrop = onDrop
        let (seconds, attoseconds) = rotationCheckInterval.components
        self.rotationCheckMilliseconds = max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
        let (batchSeconds, batchAttoseconds) = batchInterval.components
        self.batchMilliseconds = max(0, Int(batchSeconds) * 1000 + Int(batchAttoseconds / 1_000_000_000_000_000))
        var initial = Queue()
        initial.pending.reserveCapacity(min(capacity, 4096))
        self.queue = Mutex(initial)
        let thread = Thread { [self] in self.writeLoop() }
        thread.name = "event-writer"
        thread.start()
    }

    /// Queues `event`; never waits for I/O. Called from event loops.
    public func emit(_ event: Event) {
        let wake = queue.withLock { queue -> Bool in
            guard !queue.stopping, queue.pending.count < capacity else {
                queue.droppedSinceReport += 1
                queue.droppedTotal += 1
                return false
            }
            queue.pending.append(event)
            queue.accepted += 1
            if queue.writerIsGathering {
                guard queue.pending.count >= urgentCount else { return false }
                queue.writerIsGathering = false
                return true
            }
            let wake = queue.writerIsWaiting
            queue.writerIsWaiting = false
            return wake
        }
        if wake { wakeUp.signal() }
    }

    /// A queue this full is written without waiting for the batch interval to end.
    private var urgentCount: Int { max(1, capacity / 2) }

    /// Events dropped since start because the queue was full (or the writer had stopped,
    /// or a write failed).
    public var droppedCount: UInt64 { queue.withLock { $0.droppedTotal } }

    /// Closes and reopens the file at its path on the writer thread (SIGHUP).
    public func reopen() {
        queue.withLock { $0.reopenRequested = true; $0.writerIsWaiting = false }
        wakeUp.signal()
    }

    /// Waits until every event emitted before the call has been written (or failed to be).
    /// Returns false if that took longer than `timeout`.
    @discardableResult
    public func flush(timeout: Duration = .seconds(5)) -> Bool {
        let signal = DispatchSemaphore(value: 0)
        let mustWait = queue.withLock { queue -> Bool in
            guard queue.handled < queue.accepted, !queue.finished else { return false }
            queue.flushWaiters.append((queue.accepted, signal))
            queue.writerIsWaiting = false
            return true
        }
        guard mustWait else { return true }
        wakeUp.signal()
        return signal.wait(timeout: .now() + Self.dispatchInterval(timeout)) == .success
    }

    /// Stops accepting events, writes what is queued, closes the file and ends the
    /// writer thread (which holds the writer until then). Idempotent.
    /// Returns false if draining took longer than `timeout`.
    @discardableResult
    public func shutdown(timeout: Duration = .seconds(5)) -> Bool {
        let alreadyFinished = queue.withLock { queue -> Bool in
            queue.stopping = true
            queue.writerIsWaiting = false
            return queue.finished
        }
        if alreadyFinished { return true }
        wakeUp.signal()
        guard done.wait(timeout: .now() + Self.dispatchInterval(timeout)) == .success else { return false }
        done.signal()
        return true
    }

    private static func dispatchInterval(_ duration: Duration) -> DispatchTimeInterval {
        let (seconds, attoseconds) = duration.components
        return .milliseconds(Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }

    private struct Batch {
        var events: [Event]
        var dropped: UInt64
        var reopen: Bool
        var stopping: Bool
    }

    private func writeLoop() {
        // A log piped to a reader that went away must fail the write (EPIPE), not kill
        // the process: SIGPIPE from write(2) goes to this thread, so block it here.
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)
        var spare: [Event] = []
        var line: [UInt8] = []
        var lastRotationCheck = DispatchTime.now()
        func followRotation() {
            let now = DispatchTime.now()
            guard now.uptimeNanoseconds - lastRotationCheck.uptimeNanoseconds >= UInt64(rotationCheckMilliseconds) * 1_000_000
            else { return }
            output.reopenIfMoved()
            lastRotationCheck = now
        }
        var carriedDrops: UInt64 = 0
        /// Lets a batch grow for up to `batchMilliseconds` unless something is urgent.
        func gather() {
            guard batchMilliseconds > 0 else { return }
            let gathering = queue.withLock { queue -> Bool in
                let urgent = queue.stopping || queue.reopenRequested || !queue.flushWaiters.isEmpty
                    || queue.pending.count >= urgentCount
                queue.writerIsGathering = !urgent
                return !urgent
            }
            guard gathering else { return }
            _ = wakeUp.wait(timeout: .now() + .milliseconds(batchMilliseconds))
            queue.withLock { $0.writerIsGathering = false }
        }
        var idle = true
        while true {
            if !idle { gather() }
            let batch = queue.withLock { queue -> Batch? in
                if queue.pending.isEmpty, queue.droppedSinceReport == 0, !queue.reopenRequested, !queue.stopping {
                    queue.writerIsWaiting = true
                    return nil
                }
                // Swap buffers so producers keep appending, into recycled storage, while
                // this batch is written.
                var events: [Event] = []
                swap(&events, &queue.pending)
                swap(&queue.pending, &spare)
                let batch = Batch(events: events, dropped: queue.droppedSinceReport,
                                  reopen: queue.reopenRequested, stopping: queue.stopping)
                queue.droppedSinceReport = 0
                queue.reopenRequested = false
                return batch
            }
            guard var batch else {
                // Woken by an event after a quiet spell: gather before taking the batch.
                idle = wakeUp.wait(timeout: .now() + .milliseconds(rotationCheckMilliseconds)) == .timedOut
                followRotation()
                continue
            }
            idle = false
            // Before writing, so that a batch after a rotation lands in the new file.
            if batch.reopen { output.reopen() } else { followRotation() }

            line.removeAll(keepingCapacity: true)
            for event in batch.events {
                privacy.apply(to: event).appendJSONLine(to: &line)
            }
            let dropped = batch.dropped + carriedDrops
            if dropped > 0 {
                droppedEvent(count: dropped).appendJSONLine(to: &line)
            }
            var lost: UInt64 = 0
            if output.write(line) {
                carriedDrops = 0
            } else {
                lost = UInt64(batch.events.count)
                carriedDrops = dropped + lost
                queue.withLock { $0.droppedTotal += lost }
            }
            if batch.dropped + lost > 0 { onDrop(batch.dropped + lost) }

            let handledCount = UInt64(batch.events.count)
            let (finished, waiters) = queue.withLock { queue -> (Bool, [DispatchSemaphore]) in
                queue.handled += handledCount
                let handled = queue.handled
                let ready = queue.flushWaiters.filter { $0.target <= handled }.map(\.signal)
                queue.flushWaiters.removeAll { $0.target <= handled }
                let finished = queue.stopping && queue.pending.isEmpty && queue.droppedSinceReport == 0
                if finished {
                    queue.finished = true
                    let all = queue.flushWaiters.map(\.signal)
                    queue.flushWaiters.removeAll()
                    return (true, ready + all)
                }
                return (false, ready)
            }
            for waiter in waiters { waiter.signal() }
            if finished {
                output.close()
                done.signal()
                return
            }
            // Keep this batch's storage for the next swap, so a steady load allocates nothing.
            swap(&spare, &batch.events)
            spare.removeAll(keepingCapacity: true)
        }
    }

    private func droppedEvent(count: UInt64) -> Event {
        Event(timestampMilliseconds: now(), action: .eventsDropped, outcome: .failure,
              instance: instance, message: "Event queue full; events were dropped.",
              labels: ["dropped": String(count)])
    }
}

extension Event {
    /// The wall clock as `@timestamp` wants it: Unix milliseconds, UTC.
    @Sendable
    public static func nowMilliseconds() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1000 + Int64(time.tv_nsec) / 1_000_000
    }
}

/// The writer thread's end of the log: the open descriptor and how to reopen it.
/// Touched only by the writer thread after `EventWriter.init` hands it over.
private final class EventOutput: @unchecked Sendable {
    private let path: String?
    private var descriptor: FileDescriptor?
    private let logger: Logger
    /// False after a failed write, until one succeeds; failures are logged once per streak.
    private(set) var isWorking = true

    init(destination: EventWriter.Destination, logger: Logger) throws {
        self.logger = logger
        switch destination {
        case .standardOutput:
            path = nil
            descriptor = .standardOutput
        case .file(let path):
            self.path = path
            do {
                descriptor = try Self.open(path)
            } catch {
                throw EventLogError(path: path, message: "cannot open the event log for appending: \(error)")
            }
        }
    }

    private static func open(_ path: String) throws -> FileDescriptor {
        try FileDescriptor.open(
            FilePath(path), .writeOnly, options: [.append, .create, .closeOnExec],
            permissions: [.ownerReadWrite, .groupRead])
    }

    /// Writes all of `bytes`; false (logged once per streak) if the file refused them.
    func write(_ bytes: [UInt8]) -> Bool {
        guard !bytes.isEmpty else { return true }
        guard let descriptor else {
            return noteFailure("event log is not open")
        }
        do {
            _ = try bytes.withUnsafeBytes { try descriptor.writeAll($0) }
            if !isWorking {
                isWorking = true
                logger.notice("Event log writable again.", metadata: ["events.path": "\(path ?? "-")"])
            }
            return true
        } catch {
            return noteFailure("\(error)")
        }
    }

    private func noteFailure(_ reason: String) -> Bool {
        if isWorking {
            isWorking = false
            logger.error("Cannot write the event log; events are being lost.",
                         metadata: ["events.path": "\(path ?? "-")", "error": "\(reason)"])
        }
        return false
    }

    func reopen() {
        guard let path else { return }
        do {
            let fresh = try Self.open(path)
            try? descriptor?.close()
            descriptor = fresh
        } catch {
            logger.error("Cannot reopen the event log; still writing to the old file.",
                         metadata: ["events.path": "\(path)", "error": "\(error)"])
        }
    }

    /// Reopens when the path no longer names the open file (renamed or removed).
    func reopenIfMoved() {
        guard let path, let descriptor else { return }
        var open = stat()
        var named = stat()
        guard fstat(descriptor.rawValue, &open) == 0 else { return }
        if stat(path, &named) != 0 || named.st_ino != open.st_ino || named.st_dev != open.st_dev {
            logger.info("Event log moved; reopening.", metadata: ["events.path": "\(path)"])
            reopen()
        }
    }

    func close() {
        guard path != nil else { return }
        try? descriptor?.close()
        descriptor = nil
    }
}
