import ParleyDomain
import PostgresNIO

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension PostgresStore {
    typealias UserRow = (String, String, String, String, String, String?, Date, Date)

    public func insertUser(_ record: UserRecord) async throws {
        let user = record.user
        try await perform { client in
            try await client.query(
                """
                INSERT INTO users (id, name, email, password, avatar, avatar_media_id, created_at, updated_at)
                VALUES (\(user.id.hexString), \(user.name), \(user.email), \(record.passwordHash), \(user.avatar),
                        \(record.avatarMediaID), \(user.createdAt.postgres), \(user.updatedAt.postgres))
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
        try await perform { client in
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
                          old.name, old.avatar, old.avatar_media_id, old.updated_at
                """,
                logger: self.logger
            )
            for try await row in rows.decode(
                (String, String, String, String, String, String?, Date, Date, String, String, String?, Date).self)
            {
                let updated = try Self.userRecord((row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7))
                var previous = updated
                previous.user.name = row.8
                previous.user.avatar = row.9
                previous.avatarMediaID = row.10
                previous.user.updatedAt = Timestamp(row.11)
                return UserUpdate(previous: previous, updated: updated)
            }
            return nil
        }
    }

    public func users(excluding id: ObjectID) async throws -> [User] {
        try await perform { client in
            let rows = try await client.query(
                "SELECT \(unescaped: Self.userColumns) FROM users WHERE id <> \(id.hexString) ORDER BY name, id",
                logger: self.logger
            )
            var users: [User] = []
            for try await row in rows.decode(UserRow.self) {
                users.append(try Self.userRecord(row).user)
            }
            return users
        }
    }

    static let userColumns = "id, name, email, password, avatar, avatar_media_id, created_at, updated_at"

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
            avatarMediaID: row.5
        )
    }

    struct CorruptRow: Error, CustomStringConvertible {
        let column: String
        var description: String { "column \(column) has an unexpected value" }
    }
}
