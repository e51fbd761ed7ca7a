import Logging
import ParleyDomain
import PostgresNIO

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Group messages in `group_messages` and read positions in `group_members` (migration 0011). A
/// new message is stored and announced by `parley_store_group_message`, under the group's row
/// (shared) and the cluster's order lock, so it gets a position in every member's history.
extension PostgresStore {
    typealias GroupMessageRow = (Int64, String, String, String, String?, String?, String?, Date, Date, Date?, Date?)

    static let groupMessageColumns = """
        gm.seq, gm.id, gm.group_id, gm.sender_id, gm.text, gm.image, gm.image_media_id, gm.created_at, \
        gm.updated_at, gm.edited_at, gm.deleted_at
        """

    public func insertGroupMessage(_ message: GroupMessage) async throws {
        let payload = ClusterEvent.groupMessageCreated(message).encoded()
        try await perform { client in
            let rows = try await client.query(
                """
                SELECT parley_store_group_message(
                    \(message.id.hexString), \(message.groupID.hexString), \(message.senderID.hexString),
                    \(message.text), \(message.image), \(message.imageMediaID),
                    \(message.createdAt.millisecondsSince1970), \(payload))
                """,
                logger: self.logger)
            for try await position in rows.decode(Int64?.self) where position != nil { return }
            throw GroupChangeError.groupNotFound
        }
    }

    public func groupMessages(_ query: GroupMessageQuery) async throws -> [GroupMessage] {
        guard try await role(of: query.user, in: query.group) != nil else { throw GroupChangeError.groupNotFound }
        let group = query.group.hexString
        return try await perform { client in
            if let time = query.updatedAfter, let cursor = query.after {
                // Continuing after the last of a page: exactly the next `limit` changes.
                let seq = try await Self.groupSequenceNumber(of: cursor, in: group, client: client, logger: self.logger)
                let rows = try await client.query(
                    """
                    SELECT \(unescaped: Self.groupMessageColumns) FROM group_messages AS gm
                    WHERE gm.group_id = \(group) AND (gm.updated_at, gm.seq) > (\(time.postgres), \(seq))
                    ORDER BY gm.updated_at, gm.seq LIMIT \(query.limit)
                    """,
                    logger: self.logger)
                return try await Self.groupMessages(rows)
            }
            if let time = query.updatedAfter {
                // The page, then every message changed at the same millisecond as its last one.
                let rows = try await client.query(
                    """
                    WITH page AS (
                        SELECT \(unescaped: Self.groupMessageColumns) FROM group_messages AS gm
                        WHERE gm.group_id = \(group) AND gm.updated_at > \(time.postgres)
                        ORDER BY gm.updated_at, gm.seq LIMIT \(query.limit)
                    ), tail AS (
                        SELECT \(unescaped: Self.groupMessageColumns) FROM group_messages AS gm
                        WHERE (SELECT count(*) FROM page) = \(query.limit) AND gm.group_id = \(group)
                          AND gm.updated_at = (SELECT max(updated_at) FROM page)
                          AND gm.seq > (SELECT max(p.seq) FROM page AS p
                                        WHERE p.updated_at = (SELECT max(updated_at) FROM page))
                    )
                    SELECT * FROM (SELECT * FROM page UNION ALL SELECT * FROM tail) AS all_rows
                    ORDER BY updated_at, seq
                    """,
                    logger: self.logger)
                return try await Self.groupMessages(rows)
            }
            var bounds: [String] = []
            for (cursor, comparison) in [(query.before, "<"), (query.after, ">")] {
                guard let cursor else { continue }
                let seq = try await Self.groupSequenceNumber(of: cursor, in: group, client: client, logger: self.logger)
                bounds.append(" AND gm.seq \(comparison) \(seq)")
            }
            let order = query.readsNewestFirst ? "DESC" : "ASC"
            let rows = try await client.query(
                """
                SELECT \(unescaped: Self.groupMessageColumns) FROM group_messages AS gm
                WHERE gm.group_id = \(group)\(unescaped: bounds.joined())
                ORDER BY gm.seq \(unescaped: order) LIMIT \(query.limit)
                """,
                logger: self.logger)
            let page = try await Self.groupMessages(rows)
            return query.readsNewestFirst ? page.reversed() : page
        }
    }

    /// The position of message `id` in `group`; ``StoreError/cursorNotFound`` if it is not one of
    /// its messages.
    private static func groupSequenceNumber(
        of id: ObjectID, in group: String, client: PostgresClient, logger: Logger
    ) async throws -> Int64 {
        let found = try await client.query(
            "SELECT seq FROM group_messages WHERE id = \(id.hexString) AND group_id = \(group)", logger: logger)
        for try await value in found.decode(Int64.self) { return value }
        throw StoreError.cursorNotFound
    }

    public func groupMessage(id: ObjectID) async throws -> GroupMessage? {
        try await perform { client in
            let rows = try await client.query(
                "SELECT \(unescaped: Self.groupMessageColumns) FROM group_messages AS gm WHERE gm.id = \(id.hexString)",
                logger: self.logger)
            return try await Self.groupMessages(rows).first
        }
    }

    public func editGroupMessage(id: ObjectID, text: String, at time: Timestamp) async throws -> GroupMessage? {
        try await perform { client in
            let rows = try await client.query(
                """
                UPDATE group_messages AS gm SET text = \(text), edited_at = \(time.postgres), updated_at = \(time.postgres)
                WHERE gm.id = \(id.hexString) AND gm.deleted_at IS NULL
                RETURNING \(unescaped: Self.groupMessageColumns)
                """,
                logger: self.logger)
            return try await Self.groupMessages(rows).first
        }
    }

    public func deleteGroupMessage(id: ObjectID, at time: Timestamp) async throws -> GroupMessage? {
        try await perform { client in
            let rows = try await client.query(
                """
                UPDATE group_messages AS m SET text = NULL, image = NULL, image_media_id = NULL,
                                               deleted_at = \(time.postgres), updated_at = \(time.postgres)
                FROM (SELECT \(unescaped: Self.groupMessageColumns) FROM group_messages AS gm
                      WHERE gm.id = \(id.hexString) AND gm.deleted_at IS NULL FOR UPDATE) AS old
                WHERE m.id = old.id
                RETURNING old.seq, old.id, old.group_id, old.sender_id, old.text, old.image, old.image_media_id,
                          old.created_at, old.updated_at, old.edited_at, old.deleted_at
                """,
                logger: self.logger)
            return try await Self.groupMessages(rows).first
        }
    }

    public func markGroupRead(_ group: ObjectID, by reader: ObjectID, upTo: ObjectID, at time: Timestamp)
        async throws -> Bool
    {
        try await perform { client in
            // One statement: NULL when the reader is not a member, -1 when the cursor is not a
            // message of the group, else how many rows moved (0 or 1).
            let rows = try await client.query(
                """
                WITH member AS (
                    SELECT 1 FROM group_members AS m JOIN groups AS g ON g.id = m.group_id
                    WHERE m.group_id = \(group.hexString) AND m.user_id = \(reader.hexString) AND g.closed_at IS NULL
                ), bound AS (
                    SELECT seq FROM group_messages WHERE id = \(upTo.hexString) AND group_id = \(group.hexString)
                ), moved AS (
                    UPDATE group_members SET read_seq = (SELECT seq FROM bound), read_up_to = \(upTo.hexString),
                                             read_at = \(time.postgres)
                    WHERE group_id = \(group.hexString) AND user_id = \(reader.hexString)
                      AND EXISTS (SELECT 1 FROM member) AND read_seq < (SELECT seq FROM bound)
                    RETURNING 1
                )
                SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM member) THEN NULL
                            WHEN NOT EXISTS (SELECT 1 FROM bound) THEN -1
                            ELSE (SELECT count(*) FROM moved) END
                """,
                logger: self.logger)
            for try await count in rows.decode(Int64?.self) {
                guard let count else { throw GroupChangeError.groupNotFound }
                guard count >= 0 else { throw StoreError.cursorNotFound }
                return count > 0
            }
            throw GroupChangeError.groupNotFound
        }
    }

    public func readPositions(in group: ObjectID) async throws -> [GroupReadReceipt] {
        try await perform { client in
            let rows = try await client.query(
                """
                SELECT user_id, read_up_to, read_at FROM group_members
                WHERE group_id = \(group.hexString) AND read_up_to IS NOT NULL ORDER BY read_seq, user_id
                """,
                logger: self.logger)
            var receipts: [GroupReadReceipt] = []
            for try await (user, upTo, readAt) in rows.decode((String, String, Date).self) {
                guard let user = ObjectID(user), let upTo = ObjectID(upTo) else {
                    throw CorruptRow(column: "group_members.read_up_to")
                }
                receipts.append(GroupReadReceipt(groupID: group, by: user, upTo: upTo, readAt: Timestamp(readAt)))
            }
            return receipts
        }
    }

    public func role(of user: ObjectID, in group: ObjectID) async throws -> GroupRole? {
        try await perform { client in
            let rows = try await client.query(
                """
                SELECT m.role FROM group_members AS m JOIN groups AS g ON g.id = m.group_id
                WHERE m.group_id = \(group.hexString) AND m.user_id = \(user.hexString) AND g.closed_at IS NULL
                """,
                logger: self.logger)
            for try await role in rows.decode(String.self) { return GroupRole(rawValue: role) }
            return nil
        }
    }

    public func groupSidebar(of user: ObjectID) async throws -> [GroupSidebarEntry] {
        try await perform { client in
            // The unread count is bounded by the member's read position through the group's
            // (group_id, seq) index.
            let rows = try await client.query(
                """
                SELECT \(unescaped: Self.groupColumns), gm.id, gm.sender_id, gm.text, gm.image IS NOT NULL,
                       gm.deleted_at IS NOT NULL, gm.created_at,
                       (SELECT count(*) FROM group_messages AS u
                        WHERE u.group_id = g.id AND u.seq > m.read_seq AND u.sender_id <> m.user_id
                          AND u.deleted_at IS NULL)
                FROM group_members AS m JOIN groups AS g ON g.id = m.group_id
                LEFT JOIN group_messages AS gm ON gm.seq = g.last_seq AND g.last_seq > 0
                WHERE m.user_id = \(user.hexString) AND g.closed_at IS NULL
                ORDER BY g.last_seq DESC, g.created_at DESC
                """,
                logger: self.logger)
            var entries: [GroupSidebarEntry] = []
            for try await row in rows.decode(
                (
                    String, String, String, String?, Date, Date, Date?, String?, String?, String?, Bool, Bool, Date?,
                    Int64
                ).self)
            {
                let group = try Self.group((row.0, row.1, row.2, row.3, row.4, row.5, row.6))
                var last: LastMessage?
                if let id = row.7.flatMap(ObjectID.init), let sender = row.8.flatMap(ObjectID.init),
                    let created = row.12
                {
                    last = LastMessage(
                        id: id, senderID: sender, text: row.9, hasImage: row.10, deleted: row.11,
                        createdAt: Timestamp(created))
                }
                entries.append(GroupSidebarEntry(group: group, lastMessage: last, unreadCount: Int(row.13)))
            }
            return entries
        }
    }

    static func groupMessages(_ rows: PostgresRowSequence) async throws -> [GroupMessage] {
        try await positionedGroupMessages(rows).map(\.message)
    }

    static func positionedGroupMessages(_ rows: PostgresRowSequence) async throws
        -> [(position: Int64, message: GroupMessage)]
    {
        var messages: [(Int64, GroupMessage)] = []
        for try await row in rows.decode(GroupMessageRow.self) { messages.append((row.0, try groupMessage(row))) }
        return messages
    }

    static func groupMessage(_ row: GroupMessageRow) throws -> GroupMessage {
        guard let id = ObjectID(row.1), let group = ObjectID(row.2), let sender = ObjectID(row.3) else {
            throw CorruptRow(column: "group_messages")
        }
        return GroupMessage(
            id: id, groupID: group, senderID: sender, text: row.4, image: row.5, imageMediaID: row.6,
            createdAt: Timestamp(row.7), updatedAt: Timestamp(row.8), editedAt: row.9.map(Timestamp.init),
            deletedAt: row.10.map(Timestamp.init))
    }
}
