import DequeModule
import NIOConcurrencyHelpers
import OrderedCollections

/// Runs a socket's jobs (its connection handler, then each event in arrival order, then its
/// disconnect handlers) one after another.
///
/// No task exists while the queue is empty: the first job starts one, which drains the queue and
/// ends. An idle connection therefore costs no task at all.
final class SocketEventQueue: Sendable {
    typealias Job = @Sendable () async -> Void

    private struct State {
        var jobs: Deque<Job> = []
        var running = false
    }

    private let state = NIOLockedValueBox(State())

    func enqueue(_ job: @escaping Job) {
        let start = state.withLockedValue { state in
            state.jobs.append(job)
            guard !state.running else { return false }
            state.running = true
            return true
        }
        if start {
            Task { await self.drain() }
        }
    }

    /// Jobs waiting (not counting one that is running).
    var backlog: Int { state.withLockedValue { $0.jobs.count } }

    private func drain() async {
        while let job = state.withLockedValue({ state -> Job? in
            guard let job = state.jobs.popFirst() else {
                state.running = false
                return nil
            }
            return job
        }) {
            await job()
        }
    }
}
