import Dispatch
import Synchronization

/// Runs the async part of a command while the main thread waits in a plain semaphore.
///
/// Why not an async `main`: it parks the main thread inside `dispatch_main`, where glibc's
/// `setuid` does not reach it, so after dropping privileges that thread would still be
/// root. A main thread blocked here takes part in the switch like every other thread.
enum MainThread {
    private final class Outcome: Sendable {
        let result = Mutex<Result<Void, any Error>>(.success(()))
    }

    static func wait(_ body: @escaping @Sendable () async throws -> Void) throws {
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            do {
                try await body()
            } catch {
                outcome.result.withLock { $0 = .failure(error) }
            }
            done.signal()
        }
        done.wait()
        try outcome.result.withLock { $0 }.get()
    }
}
