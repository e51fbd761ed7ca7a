import EventLoopExecutor
import Synchronization

/// Time limits for many concurrent operations, all checked by one timer.
///
/// ``Deadline/run(within:_:)`` costs a task and a timer per call. On every store call of every
/// request those timers (each a dispatch timer that fires even after it is no longer needed) were
/// about a twelfth of the server's time. Here an operation's limit is an entry in a table that
/// one task checks every ``resolution`` while anything is watched: an operation is cancelled up
/// to ``resolution`` after its deadline.
public final class DeadlineWatchdog: Sendable {
    /// How often the table is checked.
    public let resolution: Duration

    private struct Watched {
        let deadline: ContinuousClock.Instant
        let onExpiry: @Sendable () -> Void
    }

    private struct State {
        var watched: [UInt64: Watched] = [:]
        var expired: Set<UInt64> = []
        var nextID: UInt64 = 0
        var checking = false
    }

    private let state = Mutex(State())

    public init(resolution: Duration = .milliseconds(100)) {
        self.resolution = resolution
    }

    /// Runs `operation`, throwing ``Deadline/Exceeded`` if it failed after `limit` had passed.
    ///
    /// On expiry the operation is cancelled and this returns once it has stopped (the drivers
    /// used here stop on cancellation); if it still succeeded, its result is returned.
    @discardableResult
    public func run<Result: Sendable>(
        within limit: Duration,
        _ operation: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        // On the caller's event loop, if it runs on one: an HTTP request's task does, and its
        // store call then needs no hop to the concurrency pool and back.
        let task = Task(executorPreference: EventLoopTaskExecutor.current) { try await operation() }
        let watch = self.watch(until: .now + limit) { task.cancel() }
        let result = await withTaskCancellationHandler {
            await task.result
        } onCancel: {
            task.cancel()
        }
        if end(watch), case .failure = result { throw Deadline.Exceeded() }
        return try result.get()
    }

    /// A watched deadline, to be ended with ``end(_:)``.
    public struct Watch: Sendable {
        fileprivate let id: UInt64
    }

    /// Calls `onExpiry` (once, from the watchdog's task) if ``end(_:)`` was not called by
    /// `deadline`.
    public func watch(until deadline: ContinuousClock.Instant, onExpiry: @escaping @Sendable () -> Void) -> Watch {
        let (id, startChecking) = state.withLock { state in
            defer { state.nextID &+= 1 }
            state.watched[state.nextID] = Watched(deadline: deadline, onExpiry: onExpiry)
            let start = !state.checking
            state.checking = true
            return (state.nextID, start)
        }
        if startChecking {
            Task { await self.check() }
        }
        return Watch(id: id)
    }

    /// Stops watching; returns whether the deadline had expired.
    @discardableResult
    public func end(_ watch: Watch) -> Bool {
        state.withLock { state in
            state.watched[watch.id] = nil
            return state.expired.remove(watch.id) != nil
        }
    }

    /// Deadlines watched now.
    public var count: Int { state.withLock { $0.watched.count } }

    /// Checks every ``resolution`` until nothing is watched.
    private func check() async {
        while true {
            try? await Task.sleep(for: resolution)
            let now = ContinuousClock.now
            let (due, done) = state.withLock { state -> ([@Sendable () -> Void], Bool) in
                var due: [@Sendable () -> Void] = []
                for (id, watched) in state.watched where watched.deadline <= now {
                    due.append(watched.onExpiry)
                    state.watched[id] = nil
                    state.expired.insert(id)
                }
                if state.watched.isEmpty { state.checking = false }
                return (due, state.watched.isEmpty)
            }
            for onExpiry in due { onExpiry() }
            if done { return }
        }
    }
}
