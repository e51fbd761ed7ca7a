import EventLoopExecutor
import NIOCore
import NIOPosix
import Testing

@Suite("Event loop task executor")
struct EventLoopTaskExecutorTests {
    /// A task that prefers a loop runs there, and comes back there after waiting for work that
    /// finished on another thread (which, on the global executor, would resume it on the pool).
    @Test func aTaskThatPrefersALoopRunsOnItBeforeAndAfterAwaiting() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let (home, other) = (group.next(), group.next())
        #expect(home !== other)
        let places = try await withTaskExecutorPreference(EventLoopTaskExecutor(home)) {
            let before = home.inEventLoop
            // Completed on the other loop's thread.
            let value = try await other.submit { 42 }.get()
            let after = home.inEventLoop
            // Not cancelled by anything here: a plain suspension point, resumed via enqueue.
            await Task.yield()
            return (before, value, after, home.inEventLoop)
        }
        #expect(places.0 && places.2 && places.3)
        #expect(places.1 == 42)
        try await group.shutdownGracefully()
    }

    /// Child tasks inherit the preference; unstructured ones take it explicitly.
    @Test func childTasksInheritThePreferenceAndCurrentNamesTheCallersLoop() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        #expect(EventLoopTaskExecutor.current == nil, "a test thread is no event loop")
        let (child, unstructured) = await withTaskExecutorPreference(EventLoopTaskExecutor(loop)) {
            async let child = loop.inEventLoop
            let current = EventLoopTaskExecutor.current
            let unstructured = await Task(executorPreference: current) { loop.inEventLoop }.value
            return (await child, current?.eventLoop === loop && unstructured)
        }
        #expect(child)
        #expect(unstructured)
        try await group.shutdownGracefully()
    }
}
