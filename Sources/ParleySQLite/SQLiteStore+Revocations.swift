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

    public func exportTokenRevocations(after: String?, unexpiredAt time: Timestamp, limit: Int) async throws
        -> [TokenRevocation]
    {
        let version = try await read("PRAGMA user_version").first?.column("user_version")?.integer ?? 0
        guard version >= 4 else { return [] }
        let rows = try await read(
            """
            SELECT fingerprint, user_id, expires_at, revoked_at FROM revoked_tokens
            WHERE fingerprint > ? AND expires_at >= ? ORDER BY fingerprint LIMIT ?
            """,
            [.text(after ?? ""), .integer(Int(time.millisecondsSince1970)), .integer(limit)]
        )
        return try rows.map { row in
            let decoder = SQLiteRowDecoder(row)
            return TokenRevocation(
                fingerprint: try decoder.text("fingerprint"), userID: try decoder.id("user_id"),
                expiresAt: try decoder.timestamp("expires_at"), revokedAt: try decoder.timestamp("revoked_at"))
        }
    }

    public func importTokenRevocations(_ revocations: [TokenRevocation]) async throws -> Int {
        guard !revocations.isEmpty else { return 0 }
        return try await write { connection in
            _ = try await connection.query("BEGIN IMMEDIATE")
            do {
                var inserted = 0
                for revocation in revocations {
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
                    inserted += try await connection.query("SELECT changes() AS n").first?.column("n")?.integer ?? 0
                }
                _ = try await connection.query("COMMIT")
                return inserted
            } catch {
                _ = try? await connection.query("ROLLBACK")
                throw error
            }
        }
    }
}
