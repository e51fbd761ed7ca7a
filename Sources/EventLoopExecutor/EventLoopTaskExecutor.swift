import NIOCore
import NIOPosix

/// Runs the jobs of the tasks that prefer it on one SwiftNIO event loop.
///
/// Swift concurrency runs a task on its global pool unless the task prefers another executor; a
/// task that waits for a channel then hops from the channel's event loop to a pool thread and
/// back for every read and write, each hop a thread woken. A task that prefers its channel's
/// loop (`withTaskExecutorPreference`, or `Task(executorPreference:)`) is resumed where its I/O
/// completes. At 500 messages/s this halved the server's thread switches per message
/// (docs/benchmarks.md#everyday-load-cpu-per-message). Such tasks must not block, as nothing on
/// an event loop may; like any Swift concurrency code.
public final class EventLoopTaskExecutor: TaskExecutor {
    public let eventLoop: any EventLoop

    public init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// The event loop of the calling thread, if it is one of a `MultiThreadedEventLoopGroup`'s.
    public static var current: EventLoopTaskExecutor? {
        MultiThreadedEventLoopGroup.currentEventLoop.map(EventLoopTaskExecutor.init)
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
