import ParleyDomain
import PostgresNIO

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension PostgresStore {
    typealias UserRow = (String, String, String, String, String, String?, Date, Date, Date?, Date?)

    public func insertUser(_ record: UserRecord) async throws {
        let user = record.user
        try await perform { client in
            try await client.query(
                """
                INSERT INTO users (id, name, email, password, avatar, avatar_media_id, created_at, updated_at,
                                   sessions_revoked_at, deleted_at)
                VALUES (\(user.id.hexString), \(user.name), \(user.email), \(record.passwordHash), \(user.avatar),
                        \(record.avatarMediaID), \(user.createdAt.postgres), \(user.updatedAt.postgres),
                        \(record.sessionsRevokedAt?.postgres), \(record.deletedAt?.postgres))
                """,
                logger: self.logger
            )
        }
    }

    public func user(id: ObjectID) async throws -> UserRecord? {
        try await perform { client in
            let rows = try await client.query(
                "SELECT \(unescaped: Self.userColumns) FROM users WHERE id = \(id.hexString)",
                logger: self.logger
            )
            return try await Self.firstUser(rows)
        }
    }

    public func user(email: String) async throws -> UserRecord? {
        // PostgreSQL text cannot hold NUL, so no account has such an email; sent as a parameter it
        // would be an encoding error, not "no such user" (schemathesis found the 500 at login).
        guard !email.utf8.contains(0) else { return nil }
        return try await perform { client in
            let rows = try await client.query(
                "SELECT \(unescaped: Self.userColumns) FROM users WHERE email = \(email)",
                logger: self.logger
            )
            return try await Self.firstUser(rows)
        }
    }

    public func updateUser(id: ObjectID, changes: UserChanges, at time: Timestamp) async throws -> UserUpdate? {
        // The sub-select reads the row as it was, under the row lock the UPDATE takes.
        let setsAvatar = changes.avatar != nil
        return try await perform { client in
            let rows = try await client.query(
                """
                UPDATE users AS u SET
                    name = COALESCE(\(changes.name), u.name),
                    avatar = CASE WHEN \(setsAvatar) THEN \(changes.avatar?.url) ELSE u.avatar END,
                    avatar_media_id = CASE WHEN \(setsAvatar) THEN \(changes.avatar?.mediaID) ELSE u.avatar_media_id END,
                    updated_at = \(time.postgres)
                FROM (SELECT id, name, avatar, avatar_media_id, updated_at FROM users WHERE id = \(id.hexString) FOR UPDATE) AS old
                WHERE u.id = old.id
                RETURNING u.id, u.name, u.email, u.password, u.avatar, u.avatar_media_id, u.created_at, u.updated_at,
                          u.sessions_revoked_at, u.deleted_at, old.name, old.avatar, old.avatar_media_id, old.updated_at
                """,
                logger: self.logger
            )
            for try await row in rows.decode(
                (
                    String, String, String, String, String, String?, Date, Date, Date?, Date?, String, String, String?,
                    Date
                )
                .self)
            {
                let updated = try Self.userRecord(
                    (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9))
                var previous = updated
                previous.user.name = row.10
                previous.user.avatar = row.11
                previous.avatarMediaID = row.12
                previous.user.updatedAt = Timestamp(row.13)
                return UserUpdate(previous: previous, updated: updated)
            }
            return nil
        }
    }

    public func users(ids: [ObjectID]) async throws -> [UserRecord] {
        let ids = Array(Set(ids.map(\.hexString)))
        guard !ids.isEmpty else { return [] }
        return try await perform { client in
            let rows = try await client.query(
                "SELECT \(unescaped: Self.userColumns) FROM users WHERE id = ANY(\(ids))", logger: self.logger)
            var records: [UserRecord] = []
            for try await row in rows.decode(UserRow.self) { records.append(try Self.userRecord(row)) }
            return records
        }
    }

    public func users(excluding id: ObjectID) async throws -> [User] {
        try await perform { client in
            let rows = try await client.query(
                """
                SELECT \(unescaped: Self.userColumns) FROM users
                WHERE id <> \(id.hexString) AND deleted_at IS NULL ORDER BY name, id
                """,
                logger: self.logger
            )
            var users: [User] = []
            for try await row in rows.decode(UserRow.self) {
                users.append(try Self.userRecord(row).user)
            }
            return users
        }
    }

    public func revokeSessions(of user: ObjectID, upTo time: Timestamp) async throws -> Bool {
        try await perform { client in
            let rows = try await client.query(
                """
                UPDATE users SET sessions_revoked_at = GREATEST(sessions_revoked_at, \(time.postgres))
                WHERE id = \(user.hexString) RETURNING id
                """,
                logger: self.logger
            )
            for try await _ in rows { return true }
            return false
        }
    }

    public func deleteUser(id: ObjectID, at time: Timestamp) async throws -> UserRecord? {
        try await perform { client in
            try await client.withTransaction(logger: self.logger) { connection in
                let rows = try await connection.query(
                    """
                    SELECT \(unescaped: Self.userColumns) FROM users
                    WHERE id = \(id.hexString) AND deleted_at IS NULL FOR UPDATE
                    """,
                    logger: self.logger
                )
                guard let previous = try await Self.firstUser(rows) else { return nil }
                let tombstone = previous.tombstone(at: time)
                try await connection.run(
                    """
                    UPDATE users SET name = \(tombstone.user.name), email = \(tombstone.user.email), password = '',
                        avatar = '', avatar_media_id = NULL, updated_at = \(time.postgres),
                        sessions_revoked_at = \(time.postgres), deleted_at = \(time.postgres)
                    WHERE id = \(id.hexString)
                    """,
                    logger: self.logger
                )
                return previous
            }
        }
    }

    static let userColumns = """
        id, name, email, password, avatar, avatar_media_id, created_at, updated_at, sessions_revoked_at, deleted_at
        """

    static func firstUser(_ rows: PostgresRowSequence) async throws -> UserRecord? {
        for try await row in rows.decode(UserRow.self) {
            return try userRecord(row)
        }
        return nil
    }

    static func userRecord(_ row: UserRow) throws -> UserRecord {
        guard let id = ObjectID(row.0) else { throw CorruptRow(column: "users.id") }
        return UserRecord(
            user: User(
                id: id,
                name: row.1,
                email: row.2,
                avatar: row.4,
                createdAt: Timestamp(row.6),
                updatedAt: Timestamp(row.7)
            ),
            passwordHash: row.3,
            avatarMediaID: row.5,
            sessionsRevokedAt: row.8.map(Timestamp.init),
            deletedAt: row.9.map(Timestamp.init)
        )
    }

    struct CorruptRow: Error, CustomStringConvertible {
        let column: String
        var description: String { "column \(column) has an unexpected value" }
    }
}
