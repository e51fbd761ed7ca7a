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
        /// Whether ``end(_:)`` will ask if it expired (not for ``schedule(at:_:)``).
        var remembered = true
    }

    private struct State {
        var watched: [UInt64: Watched] = [:]
        var expired: Set<UInt64> = []
        var nextID: UInt64 = 0
        var checking = false
    }

    private let state = Mutex(State())

    /// How long an operation cancelled at its deadline may take to stop before its caller stops
    /// waiting for it (see ``run(within:_:)``).
    public let abandonAfter: Duration

    public init(resolution: Duration = .milliseconds(100), abandonAfter: Duration = .seconds(1)) {
        self.resolution = resolution
        self.abandonAfter = abandonAfter
    }

    /// Runs `operation`, throwing ``Deadline/Exceeded`` if it failed after `limit` had passed.
    ///
    /// On expiry the operation is cancelled, and this returns once it has stopped; if it still
    /// succeeded, its result is returned. An operation that has not stopped ``abandonAfter``
    /// later is abandoned: this throws ``Deadline/Exceeded`` at once, and the operation goes on
    /// alone until it ends. postgres-nio stops waiting for a connection when cancelled, but not a
    /// query in flight: without this, a request whose query waits on a lock, or on a connection
    /// whose peer vanished (until TCP gives up, minutes later), would wait as long.
    @discardableResult
    public func run<Result: Sendable>(
        within limit: Duration,
        _ operation: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        let outcome = FirstResult<Result>()
        // On the caller's event loop, if it runs on one: an HTTP request's task does, and its
        // store call then needs no hop to the concurrency pool and back.
        let task = Task(executorPreference: EventLoopTaskExecutor.current) {
            do {
                outcome.finish(.success(try await operation()))
            } catch {
                outcome.finish(.failure(error))
            }
        }
        let watch = self.watch(until: .now + limit) { [abandonAfter] in
            task.cancel()
            self.schedule(at: .now + abandonAfter) { outcome.finish(.failure(Deadline.Exceeded())) }
        }
        let result = await withTaskCancellationHandler {
            await outcome.result()
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
        Watch(id: add(Watched(deadline: deadline, onExpiry: onExpiry)))
    }

    /// Calls `action` at `instant` (to ``resolution``), from the watchdog's task.
    func schedule(at instant: ContinuousClock.Instant, _ action: @escaping @Sendable () -> Void) {
        add(Watched(deadline: instant, onExpiry: action, remembered: false))
    }

    @discardableResult
    private func add(_ watched: Watched) -> UInt64 {
        let (id, startChecking) = state.withLock { state in
            defer { state.nextID &+= 1 }
            state.watched[state.nextID] = watched
            let start = !state.checking
            state.checking = true
            return (state.nextID, start)
        }
        if startChecking {
            Task { await self.check() }
        }
        return id
    }

    /// Stops watching; returns whether the deadline had expired.
    @discardableResult
    public func end(_ watch: Watch) -> Bool {
        state.withLock { state in
            state.watched[watch.id] = nil
            return state.expired.remove(watch.id) != nil
        }
    }

    /// Deadlines watched now (``watch(until:onExpiry:)`` not yet ended or expired).
    public var count: Int { state.withLock { $0.watched.values.count(where: \.remembered) } }

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
                    if watched.remembered { state.expired.insert(id) }
                }
                if state.watched.isEmpty { state.checking = false }
                return (due, state.watched.isEmpty)
            }
            for onExpiry in due { onExpiry() }
            if done { return }
        }
    }
}
