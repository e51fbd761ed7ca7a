/// Single session tokens ended before their expiry (logout), kept until they would have expired.
///
/// Stores keep them so that a logged-out token is refused on every instance, including those that
/// never saw it: an instance that verifies a token it has not seen asks here, and every instance
/// reads recent ``Revocation``s now and then (what the cluster bus may have missed).
public protocol TokenRevocations: Sendable {
    /// Records that a token is no longer valid. Recording it twice is harmless.
    func revokeToken(_ revocation: TokenRevocation) async throws

    /// Whether the token with this fingerprint was revoked.
    func isTokenRevoked(fingerprint: String) async throws -> Bool

    /// Token revocations and users' "log out everywhere" recorded at or after `time`.
    func revocations(since time: Timestamp) async throws -> [Revocation]

    /// Forgets revocations of tokens that have expired anyway.
    func pruneTokenRevocations(expiredBefore time: Timestamp) async throws
}

/// A token that was logged out.
public struct TokenRevocation: Sendable, Hashable {
    /// ``SessionToken``'s fingerprint: SHA-256 of the token, never the token itself.
    public var fingerprint: String
    public var userID: ObjectID
    /// When the token would have expired: the revocation can be forgotten then.
    public var expiresAt: Timestamp
    public var revokedAt: Timestamp

    public init(fingerprint: String, userID: ObjectID, expiresAt: Timestamp, revokedAt: Timestamp) {
        self.fingerprint = fingerprint
        self.userID = userID
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
    }
}

/// Something that ends sessions, as instances learn of it.
public enum Revocation: Sendable, Hashable {
    /// One token (by fingerprint).
    case token(fingerprint: String)
    /// Every token of a user issued at or before a time.
    case sessions(of: ObjectID, upTo: Timestamp)
}
