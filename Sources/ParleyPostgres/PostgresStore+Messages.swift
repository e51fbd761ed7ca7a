import ParleyDomain
import PostgresNIO

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension PostgresStore {
    typealias MessageRow = (String, String, String, String?, String?, String?, Date, Date, Date?, Date?, Date?)

    static let messageColumns =
        "id, sender_id, receiver_id, text, image, image_media_id, created_at, updated_at, read_at, edited_at, deleted_at"

    /// Inserts through ``PostgresMessageWriter``: batched with concurrent sends, in `seq` order
    /// within each conversation, so the order clients hear messages in (commit order, through the
    /// trigger's NOTIFY) is the order pages list them in.
    /// The writer keeps ``operationTimeout`` itself, per message, without a task of its own.
    public func insertMessage(_ message: Message) async throws {
        do {
            try await messageWriter.insert(message)
        } catch {
            throw Self.storeError(from: error)
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
        return try await perform { client in
            var bindings = PostgresBindings()
            bindings.append(low.hexString)
            bindings.append(high.hexString)
            var sql = "SELECT \(Self.messageColumns) FROM messages WHERE user_lo = $1 AND user_hi = $2"
            if let before = query.before {
                bindings.append(try await self.sequenceNumber(of: before, low: low, high: high, client: client))
                sql += " AND seq < $\(bindings.count)"
            }
            if let after = query.after {
                bindings.append(try await self.sequenceNumber(of: after, low: low, high: high, client: client))
                sql += " AND seq > $\(bindings.count)"
            }
            bindings.append(query.limit)
            sql += " ORDER BY seq \(query.readsNewestFirst ? "DESC" : "ASC") LIMIT $\(bindings.count)"
            let rows = try await client.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: self.logger)
            var messages: [Message] = []
            for try await row in rows.decode(MessageRow.self) {
                messages.append(try Self.message(row))
            }
            return query.readsNewestFirst ? messages.reversed() : messages
        }
    }

    public func message(id: ObjectID) async throws -> Message? {
        try await perform { client in
            let rows = try await client.query(
                "SELECT \(unescaped: Self.messageColumns) FROM messages WHERE id = \(id.hexString)",
                logger: self.logger
            )
            return try await Self.firstMessage(rows)
        }
    }

    public func markRead(by reader: ObjectID, from sender: ObjectID, upTo: ObjectID, at time: Timestamp)
        async throws -> Int
    {
        let (low, high) = reader < sender ? (reader, sender) : (sender, reader)
        return try await perform { client in
            // One statement: the bound comes from the same snapshot as the update. A NULL count
            // means the cursor is not a message of this conversation.
            let rows = try await client.query(
                """
                WITH bound AS (
                    SELECT seq FROM messages
                    WHERE id = \(upTo.hexString) AND user_lo = \(low.hexString) AND user_hi = \(high.hexString)
                ), marked AS (
                    UPDATE messages SET read_at = \(time.postgres), updated_at = \(time.postgres)
                    WHERE user_lo = \(low.hexString) AND user_hi = \(high.hexString)
                      AND seq <= (SELECT seq FROM bound) AND sender_id = \(sender.hexString) AND read_at IS NULL
                    RETURNING 1
                )
                SELECT CASE WHEN EXISTS (SELECT 1 FROM bound) THEN (SELECT count(*) FROM marked) END
                """,
                logger: self.logger
            )
            for try await count in rows.decode(Int64?.self) {
                guard let count else { throw StoreError.cursorNotFound }
                return Int(count)
            }
            throw StoreError.cursorNotFound
        }
    }

    public func editMessage(id: ObjectID, text: String, at time: Timestamp) async throws -> Message? {
        try await perform { client in
            let rows = try await client.query(
                """
                UPDATE messages SET text = \(text), edited_at = \(time.postgres), updated_at = \(time.postgres)
                WHERE id = \(id.hexString) AND deleted_at IS NULL
                RETURNING \(unescaped: Self.messageColumns)
                """,
                logger: self.logger
            )
            return try await Self.firstMessage(rows)
        }
    }

    public func deleteMessage(id: ObjectID, at time: Timestamp) async throws -> Message? {
        try await perform { client in
            // The sub-select reads the row as it was, under the row lock the UPDATE takes.
            let rows = try await client.query(
                """
                UPDATE messages AS m SET text = NULL, image = NULL, image_media_id = NULL,
                                         deleted_at = \(time.postgres), updated_at = \(time.postgres)
                FROM (SELECT \(unescaped: Self.messageColumns) FROM messages
                      WHERE id = \(id.hexString) AND deleted_at IS NULL FOR UPDATE) AS old
                WHERE m.id = old.id
                RETURNING old.id, old.sender_id, old.receiver_id, old.text, old.image, old.image_media_id,
                          old.created_at, old.updated_at, old.read_at, old.edited_at, old.deleted_at
                """,
                logger: self.logger
            )
            return try await Self.firstMessage(rows)
        }
    }

    /// Messages of a conversation changed after `time`, in order of change, with the messages
    /// that changed at the same moment as the last one (at most
    /// ``ConversationQuery/maximumSameTimeChanges``).
    private func changes(low: ObjectID, high: ObjectID, after time: Timestamp, limit: Int) async throws -> [Message] {
        try await perform { client in
            let rows = try await client.query(
                """
                WITH page AS (
                    SELECT \(unescaped: Self.messageColumns), seq FROM messages
                    WHERE user_lo = \(low.hexString) AND user_hi = \(high.hexString) AND updated_at > \(time.postgres)
                    ORDER BY updated_at, seq LIMIT \(limit)
                ), last AS (
                    SELECT updated_at AS last_updated, seq AS last_seq FROM page
                    ORDER BY updated_at DESC, seq DESC LIMIT 1
                )
                SELECT \(unescaped: Self.messageColumns) FROM (
                    SELECT * FROM page
                    UNION ALL
                    (SELECT \(unescaped: Self.messageColumns), m.seq FROM messages m, last
                     WHERE (SELECT count(*) FROM page) = \(limit)
                       AND m.user_lo = \(low.hexString) AND m.user_hi = \(high.hexString)
                       AND m.updated_at = last.last_updated AND m.seq > last.last_seq
                     ORDER BY m.seq LIMIT \(ConversationQuery.maximumSameTimeChanges))
                ) AS changed
                ORDER BY updated_at, seq
                """,
                logger: self.logger
            )
            var messages: [Message] = []
            for try await row in rows.decode(MessageRow.self) {
                messages.append(try Self.message(row))
            }
            return messages
        }
    }

    /// Messages of a conversation changed after `time`, or at `time` after the message `cursor`
    /// (the last of the previous page), in order of change: exactly `limit` at most, and a
    /// client that continues from its last one misses none.
    private func changes(low: ObjectID, high: ObjectID, after time: Timestamp, cursor: ObjectID, limit: Int)
        async throws -> [Message]
    {
        try await perform { client in
            let seq = try await self.sequenceNumber(of: cursor, low: low, high: high, client: client)
            let rows = try await client.query(
                """
                SELECT \(unescaped: Self.messageColumns) FROM messages
                WHERE user_lo = \(low.hexString) AND user_hi = \(high.hexString)
                  AND (updated_at, seq) > (\(time.postgres), \(seq))
                ORDER BY updated_at, seq LIMIT \(limit)
                """,
                logger: self.logger
            )
            var messages: [Message] = []
            for try await row in rows.decode(MessageRow.self) {
                messages.append(try Self.message(row))
            }
            return messages
        }
    }

    public func sidebar(of user: ObjectID, after position: SidebarPosition?, limit: Int?) async throws
        -> [SidebarEntry]
    {
        let me = user.hexString
        return try await perform { client in
            var entries: [SidebarEntry] = []
            if !position.isPastConversations {
                var before = Int64.max
                if case .conversation(let sequence) = position { before = sequence }
                let rows = try await client.query(
                    """
                    SELECT u.id, u.name, u.email, u.password, u.avatar, u.avatar_media_id, u.created_at, u.updated_at,
                           u.sessions_revoked_at, u.deleted_at,
                           c.last_seq, c.last_message_id, c.last_sender_id, c.last_text, c.last_has_image,
                           c.last_deleted, c.last_created_at,
                           CASE WHEN c.user_lo = \(me) THEN c.unread_lo ELSE c.unread_hi END
                    FROM parley_conversations c
                    JOIN users u ON u.id = CASE WHEN c.user_lo = \(me) THEN c.user_hi ELSE c.user_lo END
                    WHERE (c.user_lo = \(me) OR c.user_hi = \(me)) AND u.id <> \(me) AND c.last_seq < \(before)
                    ORDER BY c.last_seq DESC LIMIT \(limit.map(Int64.init) ?? Int64.max)
                    """,
                    logger: self.logger
                )
                for try await row in rows.decode(
                    (
                        String, String, String, String, String, String?, Date, Date, Date?, Date?, Int64, String,
                        String, String?, Bool, Bool, Date, Int32
                    ).self
                ) {
                    guard let messageID = ObjectID(row.11), let senderID = ObjectID(row.12) else {
                        throw CorruptRow(column: "parley_conversations.last_message_id")
                    }
                    let user = try Self.userRecord(
                        (row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7, row.8, row.9))
                    entries.append(
                        SidebarEntry(
                            user: user.user,
                            lastMessage: LastMessage(
                                id: messageID,
                                senderID: senderID,
                                text: row.13,
                                hasImage: row.14,
                                deleted: row.15,
                                createdAt: Timestamp(row.16)
                            ),
                            unreadCount: max(0, Int(row.17)),
                            position: .conversation(lastSequence: row.10),
                            userDeleted: user.deletedAt != nil
                        )
                    )
                }
            }
            if let limit, entries.count >= limit { return entries }

            var name = ""
            var id = ""
            if case .user(let lastName, let lastID) = position {
                name = lastName
                id = lastID.hexString
            }
            let remaining = limit.map { Int64($0 - entries.count) } ?? Int64.max
            let rows = try await client.query(
                """
                SELECT \(unescaped: Self.userColumns) FROM users u
                WHERE u.id <> \(me) AND u.deleted_at IS NULL AND NOT EXISTS (
                    SELECT 1 FROM parley_conversations c
                    WHERE c.user_lo = LEAST(u.id, \(me)) AND c.user_hi = GREATEST(u.id, \(me))
                ) AND (u.name, u.id) > (\(name), \(id))
                ORDER BY u.name, u.id LIMIT \(remaining)
                """,
                logger: self.logger
            )
            for try await row in rows.decode(UserRow.self) {
                let user = try Self.userRecord(row).user
                entries.append(
                    SidebarEntry(
                        user: user, lastMessage: nil, unreadCount: 0, position: .user(name: user.name, id: user.id))
                )
            }
            return entries
        }
    }

    static func firstMessage(_ rows: PostgresRowSequence) async throws -> Message? {
        for try await row in rows.decode(MessageRow.self) {
            return try message(row)
        }
        return nil
    }

    private func sequenceNumber(of id: ObjectID, low: ObjectID, high: ObjectID, client: PostgresClient) async throws
        -> Int64
    {
        let rows = try await client.query(
            """
            SELECT seq FROM messages
            WHERE id = \(id.hexString) AND user_lo = \(low.hexString) AND user_hi = \(high.hexString)
            """,
            logger: logger
        )
        for try await seq in rows.decode(Int64.self) {
            return seq
        }
        throw StoreError.cursorNotFound
    }

    static func message(_ row: MessageRow) throws -> Message {
        guard let id = ObjectID(row.0), let sender = ObjectID(row.1), let receiver = ObjectID(row.2) else {
            throw CorruptRow(column: "messages.id")
        }
        return Message(
            id: id,
            senderID: sender,
            receiverID: receiver,
            text: row.3,
            image: row.4,
            imageMediaID: row.5,
            createdAt: Timestamp(row.6),
            updatedAt: Timestamp(row.7),
            readAt: row.8.map(Timestamp.init),
            editedAt: row.9.map(Timestamp.init),
            deletedAt: row.10.map(Timestamp.init)
        )
    }
}
