import ParleyChat
import ParleyDomain
import SocketIO
import Synchronization

/// Per-socket flood control: a token bucket of `burst` events refilling at `rate` per second.
/// Over the limit, events are refused (their acknowledgement says `rate_limited`); a client that
/// keeps going — as many refusals again as its burst — is disconnected.
final class SocketFloodGate: Sendable {
    private struct State {
        var tokens: Double
        var updated: ContinuousClock.Instant
        var refusals = 0
    }

    private let rate: Double
    private let burst: Double
    private let state: Mutex<State>

    init(rate: Int, burst: Int) {
        self.rate = Double(max(1, rate))
        self.burst = Double(max(1, burst))
        self.state = Mutex(State(tokens: Double(max(1, burst)), updated: .now))
    }

    func decide(now: ContinuousClock.Instant = .now) -> EventGateDecision {
        state.withLock { state in
            let elapsed = now - state.updated
            let (seconds, attoseconds) = elapsed.components
            state.tokens = min(burst, state.tokens + (Double(seconds) + Double(attoseconds) / 1e18) * rate)
            state.updated = now
            if state.tokens >= 1 {
                state.tokens -= 1
                state.refusals = 0
                return .accept
            }
            state.refusals += 1
            if Double(state.refusals) > burst { return .disconnect }
            return .refuse(acknowledgeWith: [RealtimeReply.failure(Self.rateLimited)])
        }
    }

    static let rateLimited = ParleyError(
        .tooManyRequests(retryAfterSeconds: 1),
        code: "rate_limited",
        message: "Too many events; slow down"
    )
}
