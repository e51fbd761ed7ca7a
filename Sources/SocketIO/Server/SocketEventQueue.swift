import DequeModule
import EventLoopExecutor
import NIOConcurrencyHelpers

/// Runs a socket's jobs (its connection handler, then each event in arrival order, then its
/// disconnect handlers) one after another.
///
/// No task exists while the queue is empty: the first job starts one, which drains the queue and
/// ends. An idle connection therefore costs no task at all. The task prefers the connection's
/// event loop (``EventLoopTaskExecutor``), and the queue lets go of its storage when it empties.
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
        var jobs: Deque<(job: Job, weight: Int)> = []
        var weight = 0
        var running = false
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
            if let limit, state.jobs.count >= limit.jobs || state.weight + weight > limit.bytes {
                return (false, false)
            }
            state.jobs.append((job, weight))
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
    var backlog: Int { state.withLockedValue { $0.jobs.count } }

    private func drain() async {
        while let job = state.withLockedValue({ state -> Job? in
            guard let next = state.jobs.popFirst() else {
                state.running = false
                // An empty deque keeps its storage; an idle socket should not.
                state.jobs = []
                return nil
            }
            state.weight -= next.weight
            return next.job
        }) {
            await job()
        }
    }
}
