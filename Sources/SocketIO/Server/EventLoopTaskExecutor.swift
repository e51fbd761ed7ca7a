import NIOCore

/// Runs the jobs of the tasks that prefer it on one event loop.
///
/// A socket's handlers run as a task preferring its connection's loop: the event arrives there,
/// and the answer is written there, so handling one needs no hop to another thread and back
/// (measured in `docs/benchmarks.md`). Handlers may await anything; like any
/// Swift concurrency code they must not block.
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
