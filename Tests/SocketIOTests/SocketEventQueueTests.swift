import EventLoopExecutor
import NIOConcurrencyHelpers
import NIOPosix
import Testing

@testable import SocketIO

@Suite("Socket event queue")
struct SocketEventQueueTests {
    @Test func jobsRunOneAtATimeInOrderAcrossBurstsAndPauses() async throws {
        let queue = SocketEventQueue(executor: EventLoopTaskExecutor(MultiThreadedEventLoopGroup.singleton.next()))
        let log = NIOLockedValueBox<[Int]>([])
        let running = NIOLockedValueBox(0)
        let (gate, open) = AsyncStream.makeStream(of: Void.self)
        let (finished, finish) = AsyncStream.makeStream(of: Int.self)
        let (started, start) = AsyncStream.makeStream(of: Void.self)
        func job(_ number: Int, waitingFor gate: AsyncStream<Void>? = nil) -> SocketEventQueue.Job {
            {
                #expect(
                    running.withLockedValue {
                        $0 += 1; return $0
                    } == 1)
                if let gate {
                    start.yield()
                    for await _ in gate { break }
                }
                log.withLockedValue { $0.append(number) }
                running.withLockedValue { $0 -= 1 }
                finish.yield(number)
            }
        }
        // One job alone, then a burst queued behind a job that waits.
        queue.enqueue(job(0))
        var done = finished.makeAsyncIterator()
        #expect(await done.next() == 0)
        queue.enqueue(job(1, waitingFor: gate))
        for await _ in started { break }
        for number in 2...6 { queue.enqueue(job(number)) }
        #expect(queue.backlog == 5)
        // The limit counts every waiting job.
        #expect(!queue.enqueue(weight: 1, limit: .init(jobs: 5, bytes: 100), job(99)))
        #expect(queue.backlog == 5)
        open.yield()
        for _ in 1...6 { _ = await done.next() }
        // After the burst, single jobs again.
        queue.enqueue(job(7))
        #expect(await done.next() == 7)
        #expect(log.withLockedValue { $0 } == Array(0...7))
        #expect(queue.backlog == 0)
    }
}
