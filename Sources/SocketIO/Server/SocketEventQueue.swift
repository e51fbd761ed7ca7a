import DequeModule
import EventLoopExecutor
import NIOConcurrencyHelpers

/// Runs a socket's jobs (its connection handler, then each event in arrival order, then its
/// disconnect handlers) one after another.
///
/// No task exists while the queue is empty: the first job starts one, which drains the queue and
/// ends. An idle connection therefore costs no task at all. The task prefers the connection's
/// event loop (``EventLoopTaskExecutor``), and the queue holds no storage while it is empty.
/// Client events are bounded in count and bytes (``enqueue(weight:limit:_:)``); internal jobs
/// are not.
final class SocketEventQueue: Sendable {
    typealias Job = @Sendable () async -> Void

    /// Most jobs and bytes that may wait.
    struct Limits: Sendable {
        var jobs: Int
        var bytes: Int
    }

    private struct State {
        /// The oldest waiting job, kept apart: a socket usually has one event at a time, and a
        /// deque allocates storage for its first element and keeps it when emptied.
        var first: (job: Job, weight: Int)?
        /// The jobs after `first`, in order.
        var rest: Deque<(job: Job, weight: Int)> = []
        var weight = 0
        var running = false

        var count: Int { (first == nil ? 0 : 1) + rest.count }

        mutating func append(_ job: (job: Job, weight: Int)) {
            if first == nil, rest.isEmpty {
                first = job
            } else {
                rest.append(job)
            }
        }

        mutating func popFirst() -> (job: Job, weight: Int)? {
            if let job = first {
                first = nil
                return job
            }
            return rest.popFirst()
        }
    }

    private let state = NIOLockedValueBox(State())
    /// Where the jobs run.
    private let executor: EventLoopTaskExecutor

    init(executor: EventLoopTaskExecutor) {
        self.executor = executor
    }

    /// Queues an internal job (connection and disconnect handlers), without limits.
    func enqueue(_ job: @escaping Job) {
        _ = enqueue(weight: 0, limit: nil, job)
    }

    /// Queues a job that stands for `weight` bytes of client input.
    /// - Returns: `false`, queueing nothing, when the job would pass `limit`.
    func enqueue(weight: Int, limit: Limits?, _ job: @escaping Job) -> Bool {
        let (accepted, start) = state.withLockedValue { state -> (Bool, Bool) in
            if let limit, state.count >= limit.jobs || state.weight + weight > limit.bytes {
                return (false, false)
            }
            state.append((job, weight))
            state.weight += weight
            guard !state.running else { return (true, false) }
            state.running = true
            return (true, true)
        }
        if start {
            Task(executorPreference: executor) { await self.drain() }
        }
        return accepted
    }

    /// Jobs waiting (not counting one that is running).
    var backlog: Int { state.withLockedValue { $0.count } }

    private func drain() async {
        while let job = state.withLockedValue({ state -> Job? in
            guard let next = state.popFirst() else {
                state.running = false
                // An empty deque keeps its storage (after a burst of events); an idle socket
                // should not.
                state.rest = []
                return nil
            }
            state.weight -= next.weight
            return next.job
        }) {
            await job()
        }
    }
}
