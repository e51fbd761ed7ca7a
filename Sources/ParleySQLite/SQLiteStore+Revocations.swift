import ParleyDomain
import SQLiteNIO

extension SQLiteStore {
    public func revokeToken(_ revocation: TokenRevocation) async throws {
        try await write { connection in
            _ = try await connection.query(
                """
                INSERT INTO revoked_tokens (fingerprint, user_id, expires_at, revoked_at) VALUES (?, ?, ?, ?)
                ON CONFLICT (fingerprint) DO NOTHING
                """,
                [
                    .text(revocation.fingerprint), .text(revocation.userID.hexString),
                    .integer(Int(revocation.expiresAt.millisecondsSince1970)),
                    .integer(Int(revocation.revokedAt.millisecondsSince1970)),
                ]
            )
        }
    }

    public func isTokenRevoked(fingerprint: String) async throws -> Bool {
        try await !read("SELECT 1 FROM revoked_tokens WHERE fingerprint = ?", [.text(fingerprint)]).isEmpty
    }

    public func revocations(since time: Timestamp) async throws -> [Revocation] {
        let since = SQLiteData.integer(Int(time.millisecondsSince1970))
        var revocations: [Revocation] = []
        for row in try await read("SELECT fingerprint FROM revoked_tokens WHERE revoked_at >= ?", [since]) {
            if let fingerprint = row.column("fingerprint")?.string {
                revocations.append(.token(fingerprint: fingerprint))
            }
        }
        for row in try await read("SELECT id, sessions_revoked_at FROM users WHERE sessions_revoked_at >= ?", [since]) {
            let decoder = SQLiteRowDecoder(row)
            revocations.append(.sessions(of: try decoder.id("id"), upTo: try decoder.timestamp("sessions_revoked_at")))
        }
        return revocations
    }

    public func pruneTokenRevocations(expiredBefore time: Timestamp) async throws {
        try await write { connection in
            _ = try await connection.query(
                "DELETE FROM revoked_tokens WHERE expires_at < ?", [.integer(Int(time.millisecondsSince1970))])
        }
    }
}
