import ParleyDomain
import Synchronization

/// Waits until this instance has heard, through the bus, every event committed before the wait
/// began: it sends a ``ClusterEvent/barrier(_:)`` and returns when it comes back (the bus
/// delivers in commit order). A database read can be ahead of the bus; a position read before a
/// barrier was sent has been delivered here once the barrier is back.
///
/// Waits are coalesced: one barrier is in flight at a time, and everyone who asks meanwhile
/// shares the next one (a connection storm sends a few barriers, not one per socket).
final class BusBarrier: Sendable {
    private struct State {
        /// Waiting for the next barrier (not sent yet).
        var next: [CheckedContinuation<Bool, Never>] = []
        var sending = false
        /// The barrier in flight: whether it is back, and who waits for it.
        var inFlight: (token: String, back: Bool, arrival: CheckedContinuation<Bool, Never>?)?
    }

    private let bus: any ClusterBus
    private let timeout: Duration
    private let state = Mutex(State())

    init(bus: any ClusterBus, timeout: Duration = .seconds(5)) {
        self.bus = bus
        self.timeout = timeout
    }

    /// `true` once a barrier sent after this call is back; `false` if the bus could not carry it
    /// within the timeout.
    func pass() async -> Bool {
        await withCheckedContinuation { continuation in
            let start = state.withLock { state in
                state.next.append(continuation)
                defer { state.sending = true }
                return !state.sending
            }
            if start { Task { await self.send() } }
        }
    }

    /// A barrier came back through the bus (any instance's: only this one's are waited for).
    func arrived(_ token: String) {
        let arrival = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard let inFlight = state.inFlight, inFlight.token == token else { return nil }
            // Back before anyone waits for it (a bus that delivers as it publishes): noted.
            guard let arrival = inFlight.arrival else {
                state.inFlight?.back = true
                return nil
            }
            state.inFlight = nil
            return arrival
        }
        arrival?.resume(returning: true)
    }

    /// Sends barriers until no one waits.
    private func send() async {
        while true {
            let waiters = state.withLock { state in
                let waiters = state.next
                state.next = []
                if waiters.isEmpty { state.sending = false }
                return waiters
            }
            guard !waiters.isEmpty else { return }
            let passed = await roundTrip(token: ObjectID().hexString)
            for waiter in waiters { waiter.resume(returning: passed) }
        }
    }

    /// Publishes one barrier and waits for it, at most ``timeout``.
    private func roundTrip(token: String) async -> Bool {
        state.withLock { $0.inFlight = (token, false, nil) }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withCheckedContinuation { arrival in
                    let answer = self.state.withLock { state -> Bool? in
                        guard let inFlight = state.inFlight, inFlight.token == token else { return false }
                        if inFlight.back {
                            state.inFlight = nil
                            return true
                        }
                        state.inFlight?.arrival = arrival
                        return nil
                    }
                    if let answer { arrival.resume(returning: answer) }
                }
            }
            group.addTask { [bus, timeout] in
                do {
                    try await bus.publish(.barrier(token))
                    try await Task.sleep(for: timeout)
                } catch {}
                // Not back in time (or not sent): whoever waits for it is told so.
                self.abandon(token)
                return false
            }
            let passed = await group.next() ?? false
            group.cancelAll()
            return passed
        }
    }

    private func abandon(_ token: String) {
        let arrival = state.withLock { state -> CheckedContinuation<Bool, Never>? in
            guard let inFlight = state.inFlight, inFlight.token == token else { return nil }
            state.inFlight = nil
            return inFlight.arrival
        }
        // Without a waiter yet, it finds the barrier gone and gives up itself.
        arrival?.resume(returning: false)
    }
}
