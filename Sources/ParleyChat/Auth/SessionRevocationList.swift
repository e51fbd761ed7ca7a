import ParleyDomain
import Synchronization

/// The revocations this instance learned of lately (its own, the cluster bus's, the store's),
/// checked on every request whose token the session cache already knows.
///
/// It only needs to hold a revocation as long as a cached session might still answer for the
/// revoked token: ``VerifiedSessions`` re-verifies (asking the store) every
/// ``VerifiedSessions/recheckInterval``, so entries are kept that long plus ``overlap``. Memory is
/// bounded by how many logouts can happen in that time, which logins' rate limits bound.
final class SessionRevocationList: Sendable {
    /// How much longer than the session cache's recheck interval a revocation is kept.
    static let overlap = Duration.seconds(30)

    private struct State {
        var tokens: [String: ContinuousClock.Instant] = [:]
        var users: [ObjectID: (upTo: Timestamp, learnedAt: ContinuousClock.Instant)] = [:]
        var lastPrune = ContinuousClock.Instant.now
    }

    private let state = Mutex(State())
    private let retention = VerifiedSessions.recheckInterval + overlap

    func add(_ revocation: Revocation, now: ContinuousClock.Instant = .now) {
        state.withLock { state in
            switch revocation {
            case .token(let fingerprint):
                state.tokens[fingerprint] = now
            case .sessions(let user, let upTo):
                if let known = state.users[user], known.upTo >= upTo { break }
                state.users[user] = (upTo, now)
            }
            if now - state.lastPrune > .seconds(10) {
                let cutoff = now - retention
                state.tokens = state.tokens.filter { $0.value > cutoff }
                state.users = state.users.filter { $0.value.learnedAt > cutoff }
                state.lastPrune = now
            }
        }
    }

    /// Whether a session's token was revoked (by itself, or with every token of its user).
    func revokes(_ session: SessionToken) -> Bool {
        state.withLock { state in
            if state.tokens[session.fingerprint] != nil { return true }
            guard let revoked = state.users[session.userID] else { return false }
            return session.issuedAt <= revoked.upTo
        }
    }

    var count: Int { state.withLock { $0.tokens.count + $0.users.count } }
}
