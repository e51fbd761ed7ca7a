import ParleyDomain
import Synchronization

/// Waits until this instance has heard, through the bus, every event committed before the wait
/// began: it sends a ``ClusterEvent/barrier(_:)`` and returns when it comes back (the bus
/// delivers in commit order). A database read can be ahead of the bus; a position read before a
/// barrier has been delivered here once the barrier is back.
final class BusBarrier: Sendable {
    private let bus: any ClusterBus
    private let timeout: Duration

    init(bus: any ClusterBus, timeout: Duration = .seconds(5)) {
        self.bus = bus
        self.timeout = timeout
    }

    private struct Waiter {
        let continuation: CheckedContinuation<Bool, Never>
        var timer: Task<Void, Never>?
    }

    private let waiting = Mutex<[String: Waiter]>([:])

    /// `true` once the barrier is back; `false` if the bus could not carry it within the timeout.
    func pass() async -> Bool {
        let token = ObjectID().hexString
        return await withCheckedContinuation { continuation in
            waiting.withLock { $0[token] = Waiter(continuation: continuation) }
            let timer = Task { [bus, timeout] in
                do {
                    try await bus.publish(.barrier(token))
                    try await Task.sleep(for: timeout)
                } catch is CancellationError {
                    return
                } catch {}
                self.finish(token, passed: false)
            }
            let finished = waiting.withLock { waiting in
                waiting[token]?.timer = timer
                return waiting[token] == nil
            }
            if finished { timer.cancel() }
        }
    }

    /// A barrier came back through the bus (any instance's: only this one's are waited for).
    func arrived(_ token: String) {
        finish(token, passed: true)
    }

    private func finish(_ token: String, passed: Bool) {
        guard let waiter = waiting.withLock({ $0.removeValue(forKey: token) }) else { return }
        waiter.timer?.cancel()
        waiter.continuation.resume(returning: passed)
    }
}
