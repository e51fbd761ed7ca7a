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

    public func exportTokenRevocations(after: String?, unexpiredAt time: Timestamp, limit: Int) async throws
        -> [TokenRevocation]
    {
        try await perform { client in
            guard try await self.hasTable("parley_revoked_tokens", client) else { return [] }
            let rows = try await client.query(
                """
                SELECT fingerprint, user_id, expires_at, revoked_at FROM parley_revoked_tokens
                WHERE fingerprint > \(after ?? "") AND expires_at >= \(time.postgres)
                ORDER BY fingerprint LIMIT \(limit)
                """,
                logger: self.logger
            )
            var revocations: [TokenRevocation] = []
            for try await (fingerprint, user, expiresAt, revokedAt) in rows.decode((String, String, Date, Date).self) {
                guard let userID = ObjectID(user) else { throw CorruptRow(column: "parley_revoked_tokens.user_id") }
                revocations.append(
                    TokenRevocation(
                        fingerprint: fingerprint, userID: userID, expiresAt: Timestamp(expiresAt),
                        revokedAt: Timestamp(revokedAt)))
            }
            return revocations
        }
    }

    public func importTokenRevocations(_ revocations: [TokenRevocation]) async throws -> Int {
        guard !revocations.isEmpty else { return 0 }
        return try await perform { client in
            let rows = try await client.query(
                """
                WITH inserted AS (
                    INSERT INTO parley_revoked_tokens (fingerprint, user_id, expires_at, revoked_at)
                    SELECT f, u, 'epoch'::timestamptz + e * interval '1 millisecond',
                           'epoch'::timestamptz + r * interval '1 millisecond'
                    FROM unnest(\(revocations.map(\.fingerprint))::text[],
                                \(revocations.map(\.userID.hexString))::text[],
                                \(revocations.map(\.expiresAt.millisecondsSince1970))::int8[],
                                \(revocations.map(\.revokedAt.millisecondsSince1970))::int8[]) AS t(f, u, e, r)
                    ON CONFLICT (fingerprint) DO NOTHING
                    RETURNING 1
                )
                SELECT count(*) FROM inserted
                """,
                logger: self.logger
            )
            return Int(try await rows.decode(Int64.self).first(where: { _ in true }) ?? 0)
        }
    }

    func hasTable(_ table: String, _ client: PostgresClient) async throws -> Bool {
        let rows = try await client.query(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = \(table)",
            logger: logger
        )
        return try await rows.decode(Int64.self).first(where: { _ in true }) ?? 0 > 0
    }
}
