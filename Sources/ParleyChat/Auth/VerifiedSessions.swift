import ParleyDomain
import Synchronization

/// Session tokens this instance verified lately, so that a client's every request does not
/// repeat the token's signature check and the lookups of its user and of the token's revocation in
/// the store.
///
/// A token is remembered once its signature, algorithm and claims were verified, its user was
/// found (not deleted, no "log out everywhere" since it was issued) and it was not logged out.
/// Each hit checks the token's expiry again, and ``AuthService`` checks the revocations this
/// instance has learned of since (``SessionRevocationList``); after ``recheckInterval`` the token
/// is verified and looked up anew. The key is the whole token, signature included, so only a
/// token that was verified can hit.
final class VerifiedSessions: Sendable {
    static let recheckInterval = Duration.seconds(60)
    /// Most tokens remembered; beyond it, entries older than ``recheckInterval`` go first, then
    /// everything if that leaves less than a quarter free.
    static let capacity = 50_000

    private struct Entry {
        let session: SessionToken
        let verifiedAt: ContinuousClock.Instant
    }

    private let entries = Mutex<[String: Entry]>([:])

    /// The session of `token` if it was verified within ``recheckInterval`` and has not expired.
    func session(for token: String, now: ContinuousClock.Instant = .now, time: Timestamp = .now()) -> SessionToken? {
        let entry = entries.withLock { $0[token] }
        guard let entry, now - entry.verifiedAt < Self.recheckInterval, time < entry.session.expiresAt else {
            return nil
        }
        return entry.session
    }

    /// Remembers a session whose token was verified and whose user exists.
    func remember(_ session: SessionToken, now: ContinuousClock.Instant = .now) {
        entries.withLock { entries in
            if entries.count >= Self.capacity, entries[session.token] == nil {
                entries = entries.filter { now - $0.value.verifiedAt < Self.recheckInterval }
                // Room for a quarter of the capacity at least, so that the scan is not repeated
                // for every new token.
                if entries.count >= Self.capacity * 3 / 4 { entries.removeAll(keepingCapacity: true) }
            }
            entries[session.token] = Entry(session: session, verifiedAt: now)
        }
    }

    /// Forgets a token (it was revoked).
    func forget(_ token: String) {
        _ = entries.withLock { $0.removeValue(forKey: token) }
    }

    /// Tokens remembered now.
    var count: Int { entries.withLock { $0.count } }
}
