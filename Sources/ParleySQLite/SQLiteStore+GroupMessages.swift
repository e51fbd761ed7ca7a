import ParleyDomain
import SQLiteNIO

/// Group messages in `group_messages`, each at a position drawn from the messages' sequence in
/// the single writer, and read positions in `group_members`.
extension SQLiteStore {
    static let groupMessageColumns = """
        gm.seq, gm.id, gm.group_id, gm.sender_id, gm.text, gm.image, gm.image_media_id, gm.created_at, \
        gm.updated_at, gm.edited_at, gm.deleted_at
        """

    /// The same, unqualified (SQLite's RETURNING takes no table names).
    static let plainGroupMessageColumns = """
        seq, id, group_id, sender_id, text, image, image_media_id, created_at, updated_at, edited_at, deleted_at
        """

    /// The next position of the one sequence messages, group messages and changes share.
    /// AUTOINCREMENT keeps the largest `messages.seq` ever given in `sqlite_sequence`; drawing
    /// there keeps a single order. Call it inside a write job's transaction.
    static func nextPosition(_ connection: SQLiteConnection) async throws -> Int {
        _ = try await connection.query(
            """
            INSERT INTO sqlite_sequence (name, seq)
            SELECT 'messages', coalesce((SELECT max(seq) FROM messages), 0)
            WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'messages')
            """)
        let rows = try await connection.query(
            "UPDATE sqlite_sequence SET seq = seq + 1 WHERE name = 'messages' RETURNING seq")
        guard let position = rows.first?.column("seq")?.integer else {
            throw SQLiteRowDecoder.CorruptRow(column: "sqlite_sequence.seq")
        }
        return position
    }

    public func insertGroupMessage(_ message: GroupMessage) async throws {
        try await write { [events] connection in
            let position = try await Self.inTransaction(connection) { connection in
                guard try await Self.role(of: message.senderID, in: message.groupID, on: connection) != nil else {
                    throw GroupChangeError.groupNotFound
                }
                let position = try await Self.nextPosition(connection)
                _ = try await connection.query(
                    """
                    INSERT INTO group_messages (seq, id, group_id, sender_id, text, image, image_media_id, created_at,
                                                updated_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    [
                        .integer(position), .text(message.id.hexString), .text(message.groupID.hexString),
                        .text(message.senderID.hexString), message.text.map { .text($0) } ?? .null,
                        message.image.map { .text($0) } ?? .null, message.imageMediaID.map { .text($0) } ?? .null,
                        Self.time(message.createdAt), Self.time(message.updatedAt),
                    ])
                _ = try await connection.query(
                    "UPDATE groups SET last_seq = ? WHERE id = ?",
                    [.integer(position), .text(message.groupID.hexString)])
                return position
            }
            // Still in the write queue: members hear messages in the order they were stored.
            events.deliver(.stored(StoredEvent(event: .groupMessageCreated(message), position: Int64(position))))
        }
    }

    public func groupMessages(_ query: GroupMessageQuery) async throws -> [GroupMessage] {
        let group = SQLiteData.text(query.group.hexString)
        guard try await role(of: query.user, in: query.group) != nil else { throw GroupChangeError.groupNotFound }
        if let time = query.updatedAfter, let cursor = query.after {
            // Continuing after the last of a page: exactly the next `limit` changes.
            let seq = try await groupSequenceNumber(of: cursor, in: group)
            let rows = try await read(
                """
                SELECT \(Self.groupMessageColumns) FROM group_messages AS gm
                WHERE gm.group_id = ? AND (gm.updated_at, gm.seq) > (?, ?) ORDER BY gm.updated_at, gm.seq LIMIT ?
                """, [group, Self.time(time), .integer(seq), .integer(query.limit)])
            return try rows.map(Self.groupMessage)
        }
        if let time = query.updatedAfter {
            var rows = try await read(
                """
                SELECT \(Self.groupMessageColumns) FROM group_messages AS gm
                WHERE gm.group_id = ? AND gm.updated_at > ? ORDER BY gm.updated_at, gm.seq LIMIT ?
                """, [group, Self.time(time), .integer(query.limit)])
            if rows.count == query.limit, let last = rows.last, let updated = last.column("updated_at")?.integer,
                let seq = last.column("seq")?.integer
            {
                rows += try await read(
                    """
                    SELECT \(Self.groupMessageColumns) FROM group_messages AS gm
                    WHERE gm.group_id = ? AND gm.updated_at = ? AND gm.seq > ? ORDER BY gm.seq
                    """, [group, .integer(updated), .integer(seq)])
            }
            return try rows.map(Self.groupMessage)
        }
        var conditions = ["gm.group_id = ?"]
        var binds: [SQLiteData] = [group]
        for (cursor, comparison) in [(query.before, "<"), (query.after, ">")] {
            guard let cursor else { continue }
            conditions.append("gm.seq \(comparison) ?")
            binds.append(.integer(try await groupSequenceNumber(of: cursor, in: group)))
        }
        binds.append(.integer(query.limit))
        let rows = try await read(
            """
            SELECT \(Self.groupMessageColumns) FROM group_messages AS gm
            WHERE \(conditions.joined(separator: " AND "))
            ORDER BY gm.seq \(query.readsNewestFirst ? "DESC" : "ASC") LIMIT ?
            """, binds)
        let page = try rows.map(Self.groupMessage)
        return query.readsNewestFirst ? page.reversed() : page
    }

    /// The position of message `id` in `group`; ``StoreError/cursorNotFound`` if it is not one of
    /// its messages.
    private func groupSequenceNumber(of id: ObjectID, in group: SQLiteData) async throws -> Int {
        let found = try await read(
            "SELECT seq FROM group_messages WHERE id = ? AND group_id = ?", [.text(id.hexString), group])
        guard let seq = found.first?.column("seq")?.integer else { throw StoreError.cursorNotFound }
        return seq
    }

    public func groupMessage(id: ObjectID) async throws -> GroupMessage? {
        let rows = try await read(
            "SELECT \(Self.groupMessageColumns) FROM group_messages AS gm WHERE gm.id = ?", [.text(id.hexString)])
        return try rows.first.map(Self.groupMessage)
    }

    public func editGroupMessage(id: ObjectID, text: String, at time: Timestamp) async throws -> GroupMessage? {
        try await write { connection in
            let rows = try await connection.query(
                """
                UPDATE group_messages SET text = ?, edited_at = ?, updated_at = ?
                WHERE id = ? AND deleted_at IS NULL
                RETURNING \(Self.plainGroupMessageColumns)
                """, [.text(text), Self.time(time), Self.time(time), .text(id.hexString)])
            return try rows.first.map(Self.groupMessage)
        }
    }

    public func deleteGroupMessage(id: ObjectID, at time: Timestamp) async throws -> GroupMessage? {
        try await write { connection in
            let rows = try await connection.query(
                "SELECT \(Self.groupMessageColumns) FROM group_messages AS gm WHERE gm.id = ? AND gm.deleted_at IS NULL",
                [.text(id.hexString)])
            guard let previous = try rows.first.map(Self.groupMessage) else { return nil }
            _ = try await connection.query(
                """
                UPDATE group_messages SET text = NULL, image = NULL, image_media_id = NULL, deleted_at = ?,
                                          updated_at = ?
                WHERE id = ?
                """, [Self.time(time), Self.time(time), .text(id.hexString)])
            return previous
        }
    }

    public func markGroupRead(_ group: ObjectID, by reader: ObjectID, upTo: ObjectID, at time: Timestamp)
        async throws -> Bool
    {
        try await write { connection in
            guard try await Self.role(of: reader, in: group, on: connection) != nil else {
                throw GroupChangeError.groupNotFound
            }
            let found = try await connection.query(
                "SELECT seq FROM group_messages WHERE id = ? AND group_id = ?",
                [.text(upTo.hexString), .text(group.hexString)])
            guard let seq = found.first?.column("seq")?.integer else { throw StoreError.cursorNotFound }
            _ = try await connection.query(
                """
                UPDATE group_members SET read_seq = ?, read_up_to = ?, read_at = ?
                WHERE group_id = ? AND user_id = ? AND read_seq < ?
                """,
                [
                    .integer(seq), .text(upTo.hexString), Self.time(time), .text(group.hexString),
                    .text(reader.hexString), .integer(seq),
                ])
            return try await connection.query("SELECT changes() AS n").first?.column("n")?.integer == 1
        }
    }

    public func readPositions(in group: ObjectID) async throws -> [GroupReadReceipt] {
        let rows = try await read(
            """
            SELECT user_id, read_up_to, read_at FROM group_members
            WHERE group_id = ? AND read_up_to IS NOT NULL ORDER BY read_seq, user_id
            """, [.text(group.hexString)])
        return try rows.map { row in
            let decoder = SQLiteRowDecoder(row)
            return GroupReadReceipt(
                groupID: group, by: try decoder.id("user_id"), upTo: try decoder.id("read_up_to"),
                readAt: try decoder.timestamp("read_at"))
        }
    }

    public func role(of user: ObjectID, in group: ObjectID) async throws -> GroupRole? {
        try await readers.withConnection { try await Self.role(of: user, in: group, on: $0) }
    }

    static func role(of user: ObjectID, in group: ObjectID, on connection: SQLiteConnection) async throws -> GroupRole?
    {
        let rows = try await connection.query(
            """
            SELECT m.role FROM group_members AS m JOIN groups AS g ON g.id = m.group_id
            WHERE m.group_id = ? AND m.user_id = ? AND g.closed_at IS NULL
            """, [.text(group.hexString), .text(user.hexString)])
        guard case .text(let role)? = rows.first?.column("role") else { return nil }
        return GroupRole(rawValue: role)
    }

    public func groupSidebar(of user: ObjectID) async throws -> [GroupSidebarEntry] {
        let rows = try await read(
            """
            SELECT \(Self.groupColumns), gm.id AS last_id, gm.sender_id AS last_sender, gm.text AS last_text,
                   gm.image IS NOT NULL AS last_has_image, gm.deleted_at IS NOT NULL AS last_deleted,
                   gm.created_at AS last_created_at,
                   (SELECT count(*) FROM group_messages AS u
                    WHERE u.group_id = g.id AND u.seq > m.read_seq AND u.sender_id <> m.user_id
                      AND u.deleted_at IS NULL) AS unread
            FROM group_members AS m JOIN groups AS g ON g.id = m.group_id
            LEFT JOIN group_messages AS gm ON gm.group_id = g.id AND gm.seq = g.last_seq
            WHERE m.user_id = ? AND g.closed_at IS NULL
            ORDER BY g.last_seq DESC, g.created_at DESC
            """, [.text(user.hexString)])
        return try rows.map { row in
            let decoder = SQLiteRowDecoder(row)
            var last: LastMessage?
            if case .text = row.column("last_id") {
                last = LastMessage(
                    id: try decoder.id("last_id"), senderID: try decoder.id("last_sender"),
                    text: decoder.optionalText("last_text"), hasImage: row.column("last_has_image")?.integer == 1,
                    deleted: row.column("last_deleted")?.integer == 1,
                    createdAt: try decoder.timestamp("last_created_at"))
            }
            return GroupSidebarEntry(
                group: try Self.group(row), lastMessage: last, unreadCount: row.column("unread")?.integer ?? 0)
        }
    }

    static func groupMessage(_ row: SQLiteRow) throws -> GroupMessage {
        let decoder = SQLiteRowDecoder(row)
        return GroupMessage(
            id: try decoder.id("id"), groupID: try decoder.id("group_id"), senderID: try decoder.id("sender_id"),
            text: decoder.optionalText("text"), image: decoder.optionalText("image"),
            imageMediaID: decoder.optionalText("image_media_id"), createdAt: try decoder.timestamp("created_at"),
            updatedAt: try decoder.timestamp("updated_at"), editedAt: try decoder.optionalTimestamp("edited_at"),
            deletedAt: try decoder.optionalTimestamp("deleted_at"))
    }
}
