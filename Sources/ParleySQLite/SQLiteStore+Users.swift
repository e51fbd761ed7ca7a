import ParleyDomain
import SQLiteNIO

extension SQLiteStore {
    static let userColumns = """
        id, name, email, password, avatar, avatar_media_id, created_at, updated_at, sessions_revoked_at, deleted_at
        """

    /// A user's values for ``userColumns``.
    static func userRow(_ record: UserRecord) -> [SQLiteData] {
        let user = record.user
        return [
            .text(user.id.hexString), .text(user.name), .text(user.email), .text(record.passwordHash),
            .text(user.avatar), record.avatarMediaID.map { .text($0) } ?? .null,
            .integer(Int(user.createdAt.millisecondsSince1970)), .integer(Int(user.updatedAt.millisecondsSince1970)),
            record.sessionsRevokedAt.map { .integer(Int($0.millisecondsSince1970)) } ?? .null,
            record.deletedAt.map { .integer(Int($0.millisecondsSince1970)) } ?? .null,
        ]
    }

    public func insertUser(_ record: UserRecord) async throws {
        let binds = Self.userRow(record)
        try await write { connection in
            _ = try await connection.query(
                "INSERT INTO users (\(Self.userColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                binds
            )
        }
    }

    public func user(id: ObjectID) async throws -> UserRecord? {
        let rows = try await read("SELECT \(Self.userColumns) FROM users WHERE id = ?", [.text(id.hexString)])
        return try rows.first.map(Self.userRecord)
    }

    public func users(ids: [ObjectID]) async throws -> [UserRecord] {
        let ids = Array(Set(ids))
        var records: [UserRecord] = []
        // In slices, well below SQLite's limit on bound parameters.
        for start in stride(from: 0, to: ids.count, by: 500) {
            let slice = ids[start..<min(start + 500, ids.count)]
            let rows = try await read(
                "SELECT \(Self.userColumns) FROM users WHERE id IN (\(slice.map { _ in "?" }.joined(separator: ", ")))",
                slice.map { .text($0.hexString) })
            records += try rows.map(Self.userRecord)
        }
        return records
    }

    public func user(email: String) async throws -> UserRecord? {
        let rows = try await read("SELECT \(Self.userColumns) FROM users WHERE email = ?", [.text(email)])
        return try rows.first.map(Self.userRecord)
    }

    public func updateUser(id: ObjectID, changes: UserChanges, at time: Timestamp) async throws -> UserUpdate? {
        try await write { connection in
            let before = try await connection.query(
                "SELECT \(Self.userColumns) FROM users WHERE id = ?",
                [.text(id.hexString)]
            )
            guard let previous = try before.first.map(Self.userRecord) else { return nil }
            let updated = previous.applying(changes, at: time)
            _ = try await connection.query(
                "UPDATE users SET name = ?, avatar = ?, avatar_media_id = ?, updated_at = ? WHERE id = ?",
                [
                    .text(updated.user.name), .text(updated.user.avatar),
                    updated.avatarMediaID.map { .text($0) } ?? .null,
                    .integer(Int(time.millisecondsSince1970)), .text(id.hexString),
                ]
            )
            return UserUpdate(previous: previous, updated: updated)
        }
    }

    public func users(excluding id: ObjectID) async throws -> [User] {
        let rows = try await read(
            "SELECT \(Self.userColumns) FROM users WHERE id <> ? AND deleted_at IS NULL ORDER BY name, id",
            [.text(id.hexString)]
        )
        return try rows.map { try Self.userRecord($0).user }
    }

    static func userRecord(_ row: SQLiteRow) throws -> UserRecord {
        let decoder = SQLiteRowDecoder(row)
        return UserRecord(
            user: User(
                id: try decoder.id("id"),
                name: try decoder.text("name"),
                email: try decoder.text("email"),
                avatar: try decoder.text("avatar"),
                createdAt: try decoder.timestamp("created_at"),
                updatedAt: try decoder.timestamp("updated_at")
            ),
            passwordHash: try decoder.text("password"),
            avatarMediaID: decoder.optionalText("avatar_media_id"),
            sessionsRevokedAt: try decoder.optionalTimestamp("sessions_revoked_at"),
            deletedAt: try decoder.optionalTimestamp("deleted_at")
        )
    }

    public func revokeSessions(of user: ObjectID, upTo time: Timestamp) async throws -> Bool {
        try await write { connection in
            let rows = try await connection.query(
                """
                UPDATE users SET sessions_revoked_at = max(coalesce(sessions_revoked_at, ?), ?)
                WHERE id = ? RETURNING id
                """,
                [
                    .integer(Int(time.millisecondsSince1970)), .integer(Int(time.millisecondsSince1970)),
                    .text(user.hexString),
                ]
            )
            return !rows.isEmpty
        }
    }

    public func deleteUser(id: ObjectID, at time: Timestamp) async throws -> UserRecord? {
        try await write { connection in
            let before = try await connection.query(
                "SELECT \(Self.userColumns) FROM users WHERE id = ? AND deleted_at IS NULL", [.text(id.hexString)])
            guard let previous = try before.first.map(Self.userRecord) else { return nil }
            let tombstone = previous.tombstone(at: time)
            let now = SQLiteData.integer(Int(time.millisecondsSince1970))
            _ = try await connection.query(
                """
                UPDATE users SET name = ?, email = ?, password = '', avatar = '', avatar_media_id = NULL,
                    updated_at = ?, sessions_revoked_at = ?, deleted_at = ?
                WHERE id = ?
                """,
                [.text(tombstone.user.name), .text(tombstone.user.email), now, now, now, .text(id.hexString)]
            )
            return previous
        }
    }
}
