import Synchronization
import Testing

@testable import ParleyServer

@Suite("Concurrent map")
struct ConcurrentMapTests {
    @Test func resultsComeInTheElementsOrder() async {
        let doubled = await Array(0..<50).concurrentMap(limit: 4) { number in
            await Task.yield()
            return number * 2
        }
        #expect(doubled == (0..<50).map { $0 * 2 })
        #expect(await [Int]().concurrentMap(limit: 4) { $0 }.isEmpty)
    }

    /// Each element waits until `limit` are running at once: one at a time would never finish.
    @Test(.timeLimit(.minutes(1))) func runsAsManyAtOnceAsItsLimitAndNoMore() async {
        let gate = Gate(width: 4)
        let results = await Array(0..<20).concurrentMap(limit: 4) { number in
            await gate.pass()
            return number
        }
        #expect(results == Array(0..<20))
        #expect(gate.mostAtOnce == 4)
    }
}

/// Holds callers until `width` are inside at once, then lets them all through.
private final class Gate: Sendable {
    private struct State {
        var inside = 0
        var most = 0
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let width: Int
    private let state = Mutex(State())

    init(width: Int) {
        self.width = width
    }

    var mostAtOnce: Int { state.withLock { $0.most } }

    func pass() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let released = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.inside += 1
                state.most = max(state.most, state.inside)
                state.waiting.append(continuation)
                guard state.waiting.count >= width else { return [] }
                defer { state.waiting = [] }
                return state.waiting
            }
            for waiter in released { waiter.resume() }
        }
        state.withLock { $0.inside -= 1 }
    }
}
