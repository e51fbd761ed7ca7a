import ParleyDomain
import PostgresNIO

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension PostgresStore {
    public func revokeToken(_ revocation: TokenRevocation) async throws {
        try await perform { client in
            try await client.query(
                """
                INSERT INTO parley_revoked_tokens (fingerprint, user_id, expires_at, revoked_at)
                VALUES (\(revocation.fingerprint), \(revocation.userID.hexString), \(revocation.expiresAt.postgres),
                        \(revocation.revokedAt.postgres))
                ON CONFLICT (fingerprint) DO NOTHING
                """,
                logger: self.logger
            )
        }
    }

    public func isTokenRevoked(fingerprint: String) async throws -> Bool {
        try await perform { client in
            let rows = try await client.query(
                "SELECT 1 FROM parley_revoked_tokens WHERE fingerprint = \(fingerprint)",
                logger: self.logger
            )
            for try await _ in rows { return true }
            return false
        }
    }

    public func revocations(since time: Timestamp) async throws -> [Revocation] {
        try await perform { client in
            var revocations: [Revocation] = []
            let tokens = try await client.query(
                "SELECT fingerprint FROM parley_revoked_tokens WHERE revoked_at >= \(time.postgres)",
                logger: self.logger
            )
            for try await fingerprint in tokens.decode(String.self) {
                revocations.append(.token(fingerprint: fingerprint))
            }
            let users = try await client.query(
                "SELECT id, sessions_revoked_at FROM users WHERE sessions_revoked_at >= \(time.postgres)",
                logger: self.logger
            )
            for try await (id, upTo) in users.decode((String, Date).self) {
                guard let user = ObjectID(id) else { throw CorruptRow(column: "users.id") }
                revocations.append(.sessions(of: user, upTo: Timestamp(upTo)))
            }
            return revocations
        }
    }

    public func pruneTokenRevocations(expiredBefore time: Timestamp) async throws {
        try await perform { client in
            try await client.query(
                "DELETE FROM parley_revoked_tokens WHERE expires_at < \(time.postgres)",
                logger: self.logger
            )
        }
    }
}
