import ParleyDomain
import SQLiteNIO

extension SQLiteStore {
    static let messageColumns =
        "id, sender_id, receiver_id, text, image, image_media_id, created_at, updated_at, read_at, edited_at, deleted_at"

    /// The columns a message is stored with (the conversation key `user_lo`/`user_hi` included).
    static let storedMessageColumns = """
        id, sender_id, receiver_id, user_lo, user_hi, text, image, image_media_id, created_at, updated_at, \
        read_at, edited_at, deleted_at
        """

    /// A message's values for ``storedMessageColumns``.
    static func storedMessageRow(_ message: Message) -> [SQLiteData] {
        let (low, high) =
            message.senderID < message.receiverID
            ? (message.senderID, message.receiverID) : (message.receiverID, message.senderID)
        func time(_ time: Timestamp?) -> SQLiteData { time.map { .integer(Int($0.millisecondsSince1970)) } ?? .null }
        return [
            .text(message.id.hexString), .text(message.senderID.hexString), .text(message.receiverID.hexString),
            .text(low.hexString), .text(high.hexString),
            message.text.map { .text($0) } ?? .null, message.image.map { .text($0) } ?? .null,
            message.imageMediaID.map { .text($0) } ?? .null,
            time(message.createdAt), time(message.updatedAt), time(message.readAt), time(message.editedAt),
            time(message.deletedAt),
        ]
    }

    public func insertMessage(_ message: Message) async throws {
        let binds = Self.storedMessageRow(message)
        try await write { [events] connection in
            let rows = try await connection.query(
                """
                INSERT INTO messages (\(Self.storedMessageColumns)) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                RETURNING seq
                """,
                binds
            )
            // Still inside the write queue: events leave in the order messages were stored, each
            // at its position (its seq).
            let seq = rows.first?.column("seq")?.integer
            guard let seq else { throw SQLiteRowDecoder.CorruptRow(column: "messages.seq") }
            events.deliver(.stored(StoredEvent(event: .messageCreated(message), position: Int64(seq))))
        }
    }

    public func conversation(_ query: ConversationQuery) async throws -> [Message] {
        let (low, high) = query.participants
        if let updatedAfter = query.updatedAfter {
            if let cursor = query.after {
                return try await changes(low: low, high: high, after: updatedAfter, cursor: cursor, limit: query.limit)
            }
            return try await changes(low: low, high: high, after: updatedAfter, limit: query.limit)
        }
        var conditions = ["user_lo = ?", "user_hi = ?"]
        var binds: [SQLiteData] = [.text(low.hexString), .text(high.hexString)]
        if let before = query.before {
            conditions.append("seq < ?")
            binds.append(.integer(try await sequenceNumber(of: before, low: low, high: high)))
        }
        if let after = query.after {
            conditions.append("seq > ?")
            binds.append(.integer(try await sequenceNumber(of: after, low: low, high: high)))
        }
        binds.append(.integer(query.limit))
        let order = query.readsNewestFirst ? "DESC" : "ASC"
        let rows = try await read(
            """
            SELECT \(Self.messageColumns) FROM messages
            WHERE \(conditions.joined(separator: " AND "))
            ORDER BY seq \(order) LIMIT ?
            """,
            binds
        )
        let messages = try rows.map(Self.message)
        return query.readsNewestFirst ? messages.reversed() : messages
    }

    public func message(id: ObjectID) async throws -> Message? {
        let rows = try await read(
            "SELECT \(Self.messageColumns) FROM messages WHERE id = ?", [.text(id.hexString)])
        return try rows.first.map(Self.message)
    }

    public func markRead(by reader: ObjectID, from sender: ObjectID, upTo: ObjectID, at time: Timestamp)
        async throws -> Int
    {
        let (low, high) = reader < sender ? (reader, sender) : (sender, reader)
        return try await write { connection in
            let found = try await connection.query(
                "SELECT seq FROM messages WHERE id = ? AND user_lo = ? AND user_hi = ?",
                [.text(upTo.hexString), .text(low.hexString), .text(high.hexString)]
            )
            guard let seq = found.first?.column("seq")?.integer else { throw StoreError.cursorNotFound }
            _ = try await connection.query(
                """
                UPDATE messages SET read_at = ?, updated_at = ?
                WHERE user_lo = ? AND user_hi = ? AND seq <= ? AND sender_id = ? AND read_at IS NULL
                """,
                [
                    .integer(Int(time.millisecondsSince1970)), .integer(Int(time.millisecondsSince1970)),
                    .text(low.hexString), .text(high.hexString),
                    .integer(seq), .text(sender.hexString),
                ]
            )
            return try await connection.query("SELECT changes() AS n").first?.column("n")?.integer ?? 0
        }
    }

    public func editMessage(id: ObjectID, text: String, at time: Timestamp) async throws -> Message? {
        try await write { connection in
            let rows = try await connection.query(
                """
                UPDATE messages SET text = ?, edited_at = ?, updated_at = ?
                WHERE id = ? AND deleted_at IS NULL
                RETURNING \(Self.messageColumns)
                """,
                [
                    .text(text), .integer(Int(time.millisecondsSince1970)), .integer(Int(time.millisecondsSince1970)),
                    .text(id.hexString),
                ]
            )
            return try rows.first.map(Self.message)
        }
    }

    public func deleteMessage(id: ObjectID, at time: Timestamp) async throws -> Message? {
        try await write { connection in
            let rows = try await connection.query(
                "SELECT \(Self.messageColumns) FROM messages WHERE id = ? AND deleted_at IS NULL",
                [.text(id.hexString)]
            )
            guard let previous = try rows.first.map(Self.message) else { return nil }
            _ = try await connection.query(
                """
                UPDATE messages SET text = NULL, image = NULL, image_media_id = NULL, deleted_at = ?, updated_at = ?
                WHERE id = ?
                """,
                [
                    .integer(Int(time.millisecondsSince1970)), .integer(Int(time.millisecondsSince1970)),
                    .text(id.hexString),
                ]
            )
            return previous
        }
    }

    /// Messages of a conversation changed after `time`, in order of change, with the messages
    /// that changed at the same millisecond as the last one (at most
    /// ``ConversationQuery/maximumSameTimeChanges``).
    private func changes(low: ObjectID, high: ObjectID, after time: Timestamp, limit: Int) async throws -> [Message] {
        let columns = Self.messageColumns + ", seq"
        var rows = try await read(
            """
            SELECT \(columns) FROM messages WHERE user_lo = ? AND user_hi = ? AND updated_at > ?
            ORDER BY updated_at, seq LIMIT ?
            """,
            [.text(low.hexString), .text(high.hexString), .integer(Int(time.millisecondsSince1970)), .integer(limit)]
        )
        if rows.count == limit, let last = rows.last, let updated = last.column("updated_at")?.integer,
            let seq = last.column("seq")?.integer
        {
            rows += try await read(
                """
                SELECT \(columns) FROM messages WHERE user_lo = ? AND user_hi = ? AND updated_at = ? AND seq > ?
                ORDER BY seq LIMIT ?
                """,
                [
                    .text(low.hexString), .text(high.hexString), .integer(updated), .integer(seq),
                    .integer(ConversationQuery.maximumSameTimeChanges),
                ]
            )
        }
        return try rows.map(Self.message)
    }

    /// Messages of a conversation changed after `time`, or at `time` after the message `cursor`
    /// (the last of the previous page), in order of change: exactly `limit` at most, and a
    /// client that continues from its last one misses none.
    private func changes(low: ObjectID, high: ObjectID, after time: Timestamp, cursor: ObjectID, limit: Int)
        async throws -> [Message]
    {
        let seq = try await sequenceNumber(of: cursor, low: low, high: high)
        let rows = try await read(
            """
            SELECT \(Self.messageColumns) FROM messages WHERE user_lo = ? AND user_hi = ? AND (updated_at, seq) > (?, ?)
            ORDER BY updated_at, seq LIMIT ?
            """,
            [
                .text(low.hexString), .text(high.hexString), .integer(Int(time.millisecondsSince1970)), .integer(seq),
                .integer(limit),
            ]
        )
        return try rows.map(Self.message)
    }

    public func sidebar(of user: ObjectID, after position: SidebarPosition?, limit: Int?) async throws
        -> [SidebarEntry]
    {
        let me = SQLiteData.text(user.hexString)
        var entries: [SidebarEntry] = []
        let userColumns = """
            u.id, u.name, u.email, u.password, u.avatar, u.avatar_media_id, u.created_at, u.updated_at,
            u.sessions_revoked_at, u.deleted_at
            """
        if !position.isPastConversations {
            var binds: [SQLiteData] = [me, me, me, me, me]
            var cursor = ""
            if case .conversation(let sequence) = position {
                cursor = "AND c.last_seq < ?"
                binds.append(.integer(Int(sequence)))
            }
            binds.append(.integer(limit ?? -1))
            let rows = try await read(
                """
                SELECT \(userColumns), c.last_seq, c.last_message_id, c.last_sender_id, c.last_text, c.last_has_image,
                       c.last_deleted, c.last_created_at,
                       CASE WHEN c.user_lo = ? THEN c.unread_lo ELSE c.unread_hi END AS unread
                FROM conversations c JOIN users u ON u.id = CASE WHEN c.user_lo = ? THEN c.user_hi ELSE c.user_lo END
                WHERE (c.user_lo = ? OR c.user_hi = ?) AND u.id <> ? \(cursor)
                ORDER BY c.last_seq DESC LIMIT ?
                """,
                binds
            )
            for row in rows {
                let decoder = SQLiteRowDecoder(row)
                let sequence = Int64(row.column("last_seq")?.integer ?? 0)
                let user = try Self.userRecord(row)
                entries.append(
                    SidebarEntry(
                        user: user.user,
                        lastMessage: LastMessage(
                            id: try decoder.id("last_message_id"),
                            senderID: try decoder.id("last_sender_id"),
                            text: decoder.optionalText("last_text"),
                            hasImage: row.column("last_has_image")?.integer == 1,
                            deleted: row.column("last_deleted")?.integer == 1,
                            createdAt: try decoder.timestamp("last_created_at")
                        ),
                        unreadCount: max(0, row.column("unread")?.integer ?? 0),
                        position: .conversation(lastSequence: sequence),
                        userDeleted: user.deletedAt != nil
                    )
                )
            }
        }
        if let limit, entries.count >= limit { return entries }

        var binds: [SQLiteData] = [me, me, me]
        var cursor = ""
        if case .user(let name, let id) = position {
            cursor = "AND (u.name > ? OR (u.name = ? AND u.id > ?))"
            binds += [.text(name), .text(name), .text(id.hexString)]
        }
        binds.append(.integer(limit.map { $0 - entries.count } ?? -1))
        let rows = try await read(
            """
            SELECT \(userColumns) FROM users u
            WHERE u.id <> ? AND u.deleted_at IS NULL AND NOT EXISTS (
                SELECT 1 FROM conversations c WHERE c.user_lo = min(u.id, ?) AND c.user_hi = max(u.id, ?)
            ) \(cursor)
            ORDER BY u.name, u.id LIMIT ?
            """,
            binds
        )
        for row in rows {
            let user = try Self.userRecord(row).user
            entries.append(
                SidebarEntry(
                    user: user, lastMessage: nil, unreadCount: 0, position: .user(name: user.name, id: user.id))
            )
        }
        return entries
    }

    private func sequenceNumber(of id: ObjectID, low: ObjectID, high: ObjectID) async throws -> Int {
        let rows = try await read(
            "SELECT seq FROM messages WHERE id = ? AND user_lo = ? AND user_hi = ?",
            [.text(id.hexString), .text(low.hexString), .text(high.hexString)]
        )
        guard let seq = rows.first?.column("seq")?.integer else { throw StoreError.cursorNotFound }
        return seq
    }

    static func message(_ row: SQLiteRow) throws -> Message {
        let decoder = SQLiteRowDecoder(row)
        return Message(
            id: try decoder.id("id"),
            senderID: try decoder.id("sender_id"),
            receiverID: try decoder.id("receiver_id"),
            text: decoder.optionalText("text"),
            image: decoder.optionalText("image"),
            imageMediaID: decoder.optionalText("image_media_id"),
            createdAt: try decoder.timestamp("created_at"),
            updatedAt: try decoder.timestamp("updated_at"),
            readAt: try decoder.optionalTimestamp("read_at"),
            editedAt: try decoder.optionalTimestamp("edited_at"),
            deletedAt: try decoder.optionalTimestamp("deleted_at")
        )
    }
}
