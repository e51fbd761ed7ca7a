import ParleyChat
import SQLiteNIO

/// Bulk reads and writes for `parley copy`.
extension SQLiteStore: ChatImporter {
    /// Foreign keys are on: every message's users exist.
    public var enforcesReferences: Bool { true }

    public func countUsers() async throws -> Int {
        try await reader.query("SELECT count(*) AS n FROM users").first?.column("n")?.integer ?? 0
    }

    public func countMessages() async throws -> Int {
        try await reader.query("SELECT count(*) AS n FROM messages").first?.column("n")?.integer ?? 0
    }

    public func exportUsers(after: ObjectID?, limit: Int) async throws -> [ExportedRecord<UserRecord>] {
        let rows = try await reader.query(
            "SELECT \(Self.userColumns) FROM users WHERE id > ? ORDER BY id LIMIT ?",
            [.text(after?.hexString ?? ""), .integer(limit)]
        )
        return rows.map { row in
            do {
                return .valid(try Self.userRecord(row))
            } catch {
                return .invalid(id: row.column("id")?.string ?? "?", reason: "\(error)")
            }
        }
    }

    public func exportMessages(after: ObjectID?, limit: Int) async throws -> [ExportedRecord<Message>] {
        var seq = 0
        if let after {
            let rows = try await reader.query("SELECT seq FROM messages WHERE id = ?", [.text(after.hexString)])
            guard let found = rows.first?.column("seq")?.integer else { throw StoreError.cursorNotFound }
            seq = found
        }
        let rows = try await reader.query(
            "SELECT \(Self.messageColumns) FROM messages WHERE seq > ? ORDER BY seq LIMIT ?",
            [.integer(seq), .integer(limit)]
        )
        return rows.map { row in
            do {
                return .valid(try Self.message(row))
            } catch {
                return .invalid(id: row.column("id")?.string ?? "?", reason: "\(error)")
            }
        }
    }

    public func messagesByID(after: ObjectID?, limit: Int) async throws -> [Message] {
        try await reader.query(
            "SELECT \(Self.messageColumns) FROM messages WHERE id > ? ORDER BY id LIMIT ?",
            [.text(after?.hexString ?? ""), .integer(limit)]
        ).map(Self.message)
    }

    public func importUsers(_ users: [UserRecord]) async throws -> Int {
        try await write { connection in
            try await Self.inTransaction(connection) {
                var inserted = 0
                for record in users {
                    let user = record.user
                    _ = try await connection.query(
                        "INSERT INTO users (\(Self.userColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
                        [
                            .text(user.id.hexString), .text(user.name), .text(user.email), .text(record.passwordHash),
                            .text(user.avatar), record.avatarMediaID.map { .text($0) } ?? .null,
                            .integer(Int(user.createdAt.millisecondsSince1970)),
                            .integer(Int(user.updatedAt.millisecondsSince1970)),
                        ]
                    )
                    inserted += try await Self.changes(connection)
                }
                return inserted
            }
        }
    }

    public func importMessages(_ messages: [Message]) async throws -> Int {
        try await write { connection in
            try await Self.inTransaction(connection) {
                var inserted = 0
                for message in messages {
                    let (low, high) =
                        message.senderID < message.receiverID
                        ? (message.senderID, message.receiverID) : (message.receiverID, message.senderID)
                    _ = try await connection.query(
                        """
                        INSERT INTO messages (id, sender_id, receiver_id, user_lo, user_hi, text, image, image_media_id,
                                              created_at, updated_at, read_at, edited_at, deleted_at)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING
                        """,
                        [
                            .text(message.id.hexString), .text(message.senderID.hexString),
                            .text(message.receiverID.hexString), .text(low.hexString), .text(high.hexString),
                            message.text.map { .text($0) } ?? .null, message.image.map { .text($0) } ?? .null,
                            message.imageMediaID.map { .text($0) } ?? .null,
                            .integer(Int(message.createdAt.millisecondsSince1970)),
                            .integer(Int(message.updatedAt.millisecondsSince1970)),
                            Self.optional(message.readAt), Self.optional(message.editedAt),
                            Self.optional(message.deletedAt),
                        ]
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
            let rows = try await reader.query(
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
        for chunk in ids.chunked(into: 500) {
            let placeholders = Array(repeating: "?", count: chunk.count).joined(separator: ", ")
            let rows = try await reader.query(
                "SELECT \(Self.userColumns) FROM users WHERE id IN (\(placeholders))", chunk.map { .text($0.hexString) }
            )
            for row in rows {
                let record = try Self.userRecord(row)
                found[record.user.id] = record
            }
        }
        return found
    }

    public func lastStoredMessageID() async throws -> ObjectID? {
        let rows = try await reader.query("SELECT id FROM messages ORDER BY seq DESC LIMIT 1")
        return try rows.first.map { try SQLiteRowDecoder($0).id("id") }
    }

    public func hasSchema() async throws -> Bool {
        try await reader.query("PRAGMA user_version").first?.column("user_version")?.integer ?? 0 > 0
    }

    private static func optional(_ time: Timestamp?) -> SQLiteData {
        time.map { .integer(Int($0.millisecondsSince1970)) } ?? .null
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
