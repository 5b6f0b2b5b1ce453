import Dispatch
import EventLog
import Synchronization

/// Where the daemon reads events: a tailed file or standard input.
public protocol EventSource: AnyObject {
    var name: String { get }
    /// Complete lines available now, at most `limit`; never blocks.
    func poll(limit: Int) -> [EventFileReader.Item]
    /// Saves the position of everything handed out so far (once it is processed).
    func commit()
}

extension EventTail: EventSource {
    public var name: String { path }
}

/// Standard input (`-`), read on a dispatch thread so that a blocking read never holds
/// the cooperative pool; lines wait in a bounded buffer until polled. No position is
/// saved: a pipe cannot be resumed.
public final class StandardInputSource: EventSource, Sendable {
    private struct Buffer {
        var items: [EventFileReader.Item] = []
        var finished = false
    }

    public let name = "-"
    private let buffer = Mutex(Buffer())
    private let space = DispatchSemaphore(value: 0)
    static let capacity = 100_000

    public init() {
        DispatchQueue.global().async { [self] in readAll() }
    }

    /// True once standard input reached its end and every line was polled.
    public var isFinished: Bool { buffer.withLock { $0.finished && $0.items.isEmpty } }

    public func poll(limit: Int) -> [EventFileReader.Item] {
        let (taken, wasFull) = buffer.withLock { buffer -> ([EventFileReader.Item], Bool) in
            let wasFull = buffer.items.count >= Self.capacity
            let count = min(limit, buffer.items.count)
            let taken = Array(buffer.items.prefix(count))
            buffer.items.removeFirst(count)
            return (taken, wasFull)
        }
        if wasFull { space.signal() }
        return taken
    }

    public func commit() {}

    private func readAll() {
        let reader: EventFileReader
        do {
            reader = try EventFileReader(path: "-")
        } catch {
            buffer.withLock { $0.finished = true }
            return
        }
        while true {
            let item: EventFileReader.Item?
            do {
                item = try reader.next()
            } catch {
                item = nil
            }
            guard let item else {
                buffer.withLock { $0.finished = true }
                return
            }
            let full = buffer.withLock { buffer -> Bool in
                buffer.items.append(item)
                return buffer.items.count >= Self.capacity
            }
            if full { space.wait() }
        }
    }
}

