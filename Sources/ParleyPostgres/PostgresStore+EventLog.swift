import ParleyDomain
import PostgresNIO

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Connection-state recovery from the database (migration 0009): new messages by their `seq`,
/// changes from `parley_changes`, merged by position.
extension PostgresStore: EventLog {
    public var eventLog: (any EventLog)? { self }

    public func latestPosition(of user: ObjectID) async throws -> Int64 {
        try await perform { client in
            let rows = try await client.query(
                """
                SELECT GREATEST(
                    (SELECT max(last_seq) FROM parley_conversations WHERE user_lo = \(user.hexString)),
                    (SELECT max(last_seq) FROM parley_conversations WHERE user_hi = \(user.hexString)),
                    (SELECT max(position) FROM parley_changes WHERE user_id = \(user.hexString)),
                    (SELECT max(g.last_seq) FROM group_members AS m JOIN groups AS g ON g.id = m.group_id
                     WHERE m.user_id = \(user.hexString)),
                    (SELECT max(c.position) FROM group_members AS m
                     CROSS JOIN LATERAL (SELECT max(position) AS position FROM parley_changes
                                         WHERE user_id = m.group_id) AS c
                     WHERE m.user_id = \(user.hexString)),
                    0)
                """,
                logger: self.logger
            )
            for try await position in rows.decode(Int64.self) { return position }
            return 0
        }
    }

    public func events(of user: ObjectID, after position: Int64, limit: Int) async throws -> [StoredEvent]? {
        try await perform { client in
            // One snapshot for every read: an event committed between two of them would be
            // missed by the first and passed over by the second's later positions.
            try await client.withTransaction(logger: self.logger) { client in
                try await client.run("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: self.logger)
                let purged = try await client.query("SELECT through FROM parley_changes_purged", logger: self.logger)
                for try await through in purged.decode(Int64.self) where position < through { return nil }
                // Each conversation with something newer gives its first `limit` messages after
                // `position` (by the conversation index), the changes theirs (by the primary key).
                let rows = try await client.query(
                    """
                    SELECT e.pos, e.payload, e.id, e.sender_id, e.receiver_id, e.text, e.image, e.image_media_id,
                           e.created_at, e.updated_at, e.read_at, e.edited_at, e.deleted_at
                    FROM (
                        SELECT m.seq AS pos, NULL::text AS payload, m.id, m.sender_id, m.receiver_id, m.text, m.image,
                               m.image_media_id, m.created_at, m.updated_at, m.read_at, m.edited_at, m.deleted_at
                        FROM parley_conversations AS c
                        CROSS JOIN LATERAL (
                            SELECT * FROM messages AS m
                            WHERE m.user_lo = c.user_lo AND m.user_hi = c.user_hi AND m.seq > \(position)
                            ORDER BY m.seq LIMIT \(limit)
                        ) AS m
                        WHERE (c.user_lo = \(user.hexString) OR c.user_hi = \(user.hexString)) AND c.last_seq > \(position)
                        UNION ALL
                        SELECT * FROM (
                            -- A removal is kept under the group and under the user it removed: one
                            -- row per position (the user may be back in the group).
                            SELECT DISTINCT ON (position) position, payload, NULL, NULL, NULL, NULL, NULL, NULL,
                                   NULL::timestamptz, NULL::timestamptz, NULL::timestamptz, NULL::timestamptz,
                                   NULL::timestamptz
                            FROM parley_changes
                            WHERE (user_id = \(user.hexString)
                                   OR user_id IN (SELECT group_id FROM group_members WHERE user_id = \(user.hexString)))
                              AND position > \(position)
                            ORDER BY position LIMIT \(limit)
                        ) AS changes
                    ) AS e
                    ORDER BY e.pos
                    LIMIT \(limit)
                    """,
                    logger: self.logger
                )
                var events: [StoredEvent] = []
                for try await row in rows.decode(
                    (
                        Int64, String?, String?, String?, String?, String?, String?, String?, Date?, Date?, Date?,
                        Date?,
                        Date?
                    )
                    .self)
                {
                    if let payload = row.1 {
                        var ignored: Int64?
                        guard let event = ClusterEvent(encoded: payload, position: &ignored) else {
                            throw CorruptRow(column: "parley_changes.payload")
                        }
                        events.append(StoredEvent(event: event, position: row.0))
                    } else {
                        guard let id = row.2, let sender = row.3, let receiver = row.4, let created = row.8,
                            let updated = row.9
                        else { throw CorruptRow(column: "messages") }
                        let message = try Self.message(
                            (id, sender, receiver, row.5, row.6, row.7, created, updated, row.10, row.11, row.12))
                        events.append(StoredEvent(event: .messageCreated(message), position: row.0))
                    }
                }
                // The messages of the user's groups (a group's whole history is its members').
                let grouped = try await client.query(
                    """
                    SELECT \(unescaped: Self.groupMessageColumns) FROM group_members AS m
                    JOIN groups AS g ON g.id = m.group_id AND g.last_seq > \(position)
                    CROSS JOIN LATERAL (
                        SELECT * FROM group_messages AS gm WHERE gm.group_id = m.group_id AND gm.seq > \(position)
                        ORDER BY gm.seq LIMIT \(limit)
                    ) AS gm
                    WHERE m.user_id = \(user.hexString)
                    ORDER BY gm.seq LIMIT \(limit)
                    """,
                    logger: self.logger)
                let messages = try await Self.positionedGroupMessages(grouped)
                if !messages.isEmpty {
                    events += messages.map {
                        StoredEvent(event: .groupMessageCreated($0.message), position: $0.position)
                    }
                    events.sort { $0.position < $1.position }
                    if events.count > limit { events.removeLast(events.count - limit) }
                }
                return events
            }
        }
    }
}
