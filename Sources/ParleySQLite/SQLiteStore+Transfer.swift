import ParleyDomain
import SQLiteNIO

/// Bulk reads and writes for `parley copy`.
extension SQLiteStore: ChatImporter {
    /// Foreign keys are on: every message's users exist.
    public var enforcesReferences: Bool { true }

    public func countUsers() async throws -> Int {
        try await read("SELECT count(*) AS n FROM users").first?.column("n")?.integer ?? 0
    }

    public func countMessages() async throws -> Int {
        try await read("SELECT count(*) AS n FROM messages").first?.column("n")?.integer ?? 0
    }

    public func exportUsers(after: ObjectID?, limit: Int) async throws -> [ExportedRecord<UserRecord>] {
        let columns = try await exportedUserColumns()
        let rows = try await read(
            "SELECT \(columns) FROM users WHERE id > ? ORDER BY id LIMIT ?",
            [.text(after?.hexString ?? ""), .integer(limit)]
        )
        return rows.map { row in ExportedRecord(id: row.column("id")?.string ?? "?") { try Self.userRecord(row) } }
    }

    /// One writer at a time, and the reader sees only committed messages: the newest is settled.
    public func settledLastMessageID() async throws -> ObjectID? {
        try await lastStoredMessageID()
    }

    public func exportMessages(after: ObjectID?, through: ObjectID, limit: Int) async throws
        -> [ExportedRecord<Message>]
    {
        var seq = 0
        if let after {
            seq = try await sequence(of: after)
        }
        let bound = try await sequence(of: through)
        let columns = try await exportedMessageColumns()
        let rows = try await read(
            "SELECT \(columns) FROM messages WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
            [.integer(seq), .integer(bound), .integer(limit)]
        )
        return rows.map { row in ExportedRecord(id: row.column("id")?.string ?? "?") { try Self.message(row) } }
    }

    private func sequence(of id: ObjectID) async throws -> Int {
        let rows = try await read("SELECT seq FROM messages WHERE id = ?", [.text(id.hexString)])
        guard let found = rows.first?.column("seq")?.integer else { throw StoreError.cursorNotFound }
        return found
    }

    public func messagesByID(after: ObjectID?, limit: Int) async throws -> [Message] {
        let columns = try await exportedMessageColumns()
        return try await read(
            "SELECT \(columns) FROM messages WHERE id > ? ORDER BY id LIMIT ?",
            [.text(after?.hexString ?? ""), .integer(limit)]
        ).map(Self.message)
    }

    public func importUsers(_ users: [UserRecord]) async throws -> Int {
        try await insertIgnoringExisting(into: "users (\(Self.userColumns))", rows: users.map(Self.userRow))
    }

    public func importMessages(_ messages: [Message]) async throws -> Int {
        try await insertIgnoringExisting(
            into: "messages (\(Self.storedMessageColumns))", rows: messages.map(Self.storedMessageRow))
    }

    /// Inserts `rows` in order, in one transaction, with multi-row statements (one trip to
    /// SQLite's thread per few hundred rows); rows whose id exists already are skipped.
    /// - Returns: how many were inserted.
    private func insertIgnoringExisting(into table: String, rows: [[SQLiteData]]) async throws -> Int {
        guard let width = rows.first?.count else { return 0 }
        // SQLite allows 32766 bound values per statement.
        let rowsPerStatement = max(1, 32_000 / width)
        return try await write { connection in
            try await Self.inTransaction(connection) {
                var inserted = 0
                for chunk in rows.chunked(into: rowsPerStatement) {
                    let row = "(" + Array(repeating: "?", count: width).joined(separator: ", ") + ")"
                    let values = Array(repeating: row, count: chunk.count).joined(separator: ", ")
                    _ = try await connection.query(
                        "INSERT INTO \(table) VALUES \(values) ON CONFLICT (id) DO NOTHING",
                        chunk.flatMap { $0 }
                    )
                    inserted += try await Self.changes(connection)
                }
                return inserted
            }
        }
    }

    public func userIDs(withEmails emails: [String]) async throws -> [String: ObjectID] {
        var found: [String: ObjectID] = [:]
        for chunk in emails.chunked(into: 500) {
            let placeholders = Array(repeating: "?", count: chunk.count).joined(separator: ", ")
            let rows = try await read(
                "SELECT id, email FROM users WHERE email IN (\(placeholders))", chunk.map { .text($0) })
            for row in rows {
                let decoder = SQLiteRowDecoder(row)
                found[try decoder.text("email")] = try decoder.id("id")
            }
        }
        return found
    }

    public func users(withIDs ids: [ObjectID]) async throws -> [ObjectID: UserRecord] {
        var found: [ObjectID: UserRecord] = [:]
        let columns = try await exportedUserColumns()
        for chunk in ids.chunked(into: 500) {
            let placeholders = Array(repeating: "?", count: chunk.count).joined(separator: ", ")
            let rows = try await read(
                "SELECT \(columns) FROM users WHERE id IN (\(placeholders))", chunk.map { .text($0.hexString) }
            )
            for row in rows {
                let record = try Self.userRecord(row)
                found[record.user.id] = record
            }
        }
        return found
    }

    public func lastStoredMessageID() async throws -> ObjectID? {
        let rows = try await read("SELECT id FROM messages ORDER BY seq DESC LIMIT 1")
        return try rows.first.map { try SQLiteRowDecoder($0).id("id") }
    }

    public func hasSchema() async throws -> Bool {
        try await read("PRAGMA user_version").first?.column("user_version")?.integer ?? 0 > 0
    }

    /// The user columns to read from this file: one from before session revocation (schema
    /// version 4) has no revocation or deletion times.
    private func exportedUserColumns() async throws -> String {
        let version = try await read("PRAGMA user_version").first?.column("user_version")?.integer ?? 0
        guard version < 4 else { return Self.userColumns }
        return "id, name, email, password, avatar, avatar_media_id, created_at, updated_at, "
            + "NULL AS sessions_revoked_at, NULL AS deleted_at"
    }

    /// The message columns to read from this file: a source is never migrated, and a file from
    /// before read receipts (schema version 1) has no read, edit or delete times.
    private func exportedMessageColumns() async throws -> String {
        let version = try await read("PRAGMA user_version").first?.column("user_version")?.integer ?? 0
        guard version < 2 else { return Self.messageColumns }
        return "id, sender_id, receiver_id, text, image, image_media_id, created_at, updated_at, "
            + "NULL AS read_at, NULL AS edited_at, NULL AS deleted_at"
    }

    private static func changes(_ connection: SQLiteConnection) async throws -> Int {
        try await connection.query("SELECT changes() AS n").first?.column("n")?.integer ?? 0
    }

    private static func inTransaction<Result: Sendable>(
        _ connection: SQLiteConnection,
        _ body: () async throws -> Result
    ) async throws -> Result {
        _ = try await connection.query("BEGIN IMMEDIATE")
        do {
            let result = try await body()
            _ = try await connection.query("COMMIT")
            return result
        } catch {
            _ = try? await connection.query("ROLLBACK")
            throw error
        }
    }
}

extension Array {
    func chunked(into size: Int) -> [ArraySlice<Element>] {
        stride(from: 0, to: count, by: size).map { self[$0..<Swift.min($0 + size, count)] }
    }
}
