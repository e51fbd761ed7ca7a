import EventLoopExecutor
import NIOCore
import NIOPosix
import ParleyDomain
import Synchronization
import Testing

@Suite("Deadline watchdog")
struct DeadlineWatchdogTests {
    @Test func returnsWhatAnOperationInTimeReturns() async throws {
        let watchdog = DeadlineWatchdog(resolution: .milliseconds(10))
        let value = try await watchdog.run(within: .seconds(5)) { 42 }
        #expect(value == 42)
        #expect(watchdog.count == 0)
        await #expect(throws: StoreError.self) {
            try await watchdog.run(within: .seconds(5)) { throw StoreError.unknownUser }
        }
    }

    @Test func cancelsAnOperationThatRunsLate() async throws {
        let watchdog = DeadlineWatchdog(resolution: .milliseconds(10))
        let started = ContinuousClock.now
        await #expect(throws: Deadline.Exceeded.self) {
            try await watchdog.run(within: .milliseconds(50)) {
                try await Task.sleep(for: .seconds(600))
            }
        }
        // Far below the operation's own time, far above the deadline: a CI machine running the
        // other suites at once once took 5.2 s here.
        #expect(ContinuousClock.now - started < .seconds(60))
        #expect(watchdog.count == 0)
    }

    /// An operation started from a task on an event loop runs on that loop (an HTTP request's
    /// store call needs no hop to the concurrency pool); from anywhere else, on the pool.
    @Test func runsTheOperationOnTheCallersEventLoop() async throws {
        let watchdog = DeadlineWatchdog(resolution: .milliseconds(10))
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let onLoop = try await withTaskExecutorPreference(EventLoopTaskExecutor(loop)) {
            try await watchdog.run(within: .seconds(5)) { loop.inEventLoop }
        }
        #expect(onLoop)
        let elsewhere = try await watchdog.run(within: .seconds(5)) { MultiThreadedEventLoopGroup.currentEventLoop }
        #expect(elsewhere == nil)
    }

    @Test func callsOnExpiryOnlyForWatchesNotEnded() async throws {
        let watchdog = DeadlineWatchdog(resolution: .milliseconds(10))
        let (expired, continuation) = AsyncStream.makeStream(of: String.self)
        let ended = watchdog.watch(until: .now + .milliseconds(20)) { continuation.yield("ended") }
        let late = watchdog.watch(until: .now + .milliseconds(20)) { continuation.yield("late") }
        #expect(watchdog.end(ended) == false)
        var iterator = expired.makeAsyncIterator()
        #expect(await iterator.next() == "late")
        #expect(watchdog.end(late) == true)
        #expect(watchdog.count == 0)
    }

    /// postgres-nio does not stop a query in flight when cancelled: a caller must not wait for
    /// one stuck on a lock or a vanished peer.
    @Test(.timeLimit(.minutes(1))) func abandonsAnOperationThatDoesNotStopWhenCancelled() async throws {
        let watchdog = DeadlineWatchdog(resolution: .milliseconds(10), abandonAfter: .milliseconds(50))
        let stuck = Gate()
        let started = ContinuousClock.now
        await #expect(throws: Deadline.Exceeded.self) {
            try await watchdog.run(within: .milliseconds(50)) { await stuck.wait() }
        }
        #expect(ContinuousClock.now - started < .seconds(5))
        stuck.open()
    }

    /// An operation that still succeeds as it stops after its cancellation has its result
    /// returned: a caller is not told that a write failed when it did not.
    @Test func returnsTheResultOfAnOperationThatSucceededAsItStopped() async throws {
        let watchdog = DeadlineWatchdog(resolution: .milliseconds(10), abandonAfter: .seconds(30))
        let gate = Gate()
        let value = try await watchdog.run(within: .milliseconds(50)) {
            await withTaskCancellationHandler {
                await gate.wait()
                return 7
            } onCancel: {
                gate.open()
            }
        }
        #expect(value == 7)
    }
}

@Suite("Deadline")
struct DeadlineTests {
    @Test func returnsWhatAnOperationInTimeReturns() async throws {
        #expect(try await Deadline.run(within: .seconds(5)) { 42 } == 42)
    }

    /// The readiness check and presence must not wait for a query that ignores cancellation.
    @Test(.timeLimit(.minutes(1))) func throwsAtTheDeadlineWithoutWaitingForTheOperation() async throws {
        let stuck = Gate()
        let started = ContinuousClock.now
        await #expect(throws: Deadline.Exceeded.self) {
            try await Deadline.run(within: .milliseconds(50)) { await stuck.wait() }
        }
        #expect(ContinuousClock.now - started < .seconds(5))
        stuck.open()
    }

    /// A heartbeat must not start its next statement while the last still holds a connection.
    @Test(.timeLimit(.minutes(1))) func waitsForTheOperationToStopWhenAsked() async throws {
        let (cancelled, finished) = (Gate(), Gate())
        await #expect(throws: Deadline.Exceeded.self) {
            try await Deadline.run(within: .milliseconds(20), waitingForItToStop: true) {
                await withTaskCancellationHandler {
                    await cancelled.wait()
                } onCancel: {
                    cancelled.open()
                }
                finished.open()
            }
        }
        #expect(finished.isOpen)
    }
}

/// Something to wait for that ignores cancellation, as a query in flight does.
private final class Gate: Sendable {
    private struct State {
        var open = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    var isOpen: Bool { state.withLock { $0.open } }

    func wait() async {
        await withCheckedContinuation { continuation in
            let open = state.withLock { state in
                if !state.open { state.waiters.append(continuation) }
                return state.open
            }
            if open { continuation.resume() }
        }
    }

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
