import ParleyDomain
import SQLiteNIO

/// Connection-state recovery from the file: new messages by their `seq`, changes from
/// `changes`, merged by position.
extension SQLiteStore: EventLog {
    public var eventLog: (any EventLog)? { self }

    private static let replayedColumns = """
        m.id, m.sender_id, m.receiver_id, m.text, m.image, m.image_media_id, m.created_at, m.updated_at, \
        m.read_at, m.edited_at, m.deleted_at
        """

    public func latestPosition(of user: ObjectID) async throws -> Int64 {
        let rows = try await read(
            """
            SELECT max(coalesce((SELECT max(last_seq) FROM conversations WHERE user_lo = ?1), 0),
                       coalesce((SELECT max(last_seq) FROM conversations WHERE user_hi = ?1), 0),
                       coalesce((SELECT max(position) FROM changes WHERE user_id = ?1), 0),
                       coalesce((SELECT max(g.last_seq) FROM group_members AS m JOIN groups AS g ON g.id = m.group_id
                                 WHERE m.user_id = ?1), 0),
                       coalesce((SELECT max(position) FROM changes
                                 WHERE user_id IN (SELECT group_id FROM group_members WHERE user_id = ?1)), 0))
                   AS position
            """,
            [.text(user.hexString)])
        return Int64(rows.first?.column("position")?.integer ?? 0)
    }

    public func events(of user: ObjectID, after position: Int64, limit: Int) async throws -> [StoredEvent]? {
        // One snapshot for every read: an event committed between two of them would be missed by
        // the first and passed over by the second's later positions.
        try await readers.withConnection { connection in
            _ = try await connection.query("BEGIN")
            do {
                let events = try await events(of: user, after: position, limit: limit, on: connection)
                _ = try await connection.query("COMMIT")
                return events
            } catch {
                _ = try? await connection.query("ROLLBACK")
                throw error
            }
        }
    }

    private func events(of user: ObjectID, after position: Int64, limit: Int, on connection: SQLiteConnection)
        async throws -> [StoredEvent]?
    {
        let read = { (sql: String, binds: [SQLiteData]) in try await connection.query(sql, binds) }
        let purged = try await read("SELECT through FROM changes_purged", [])
        if let through = purged.first?.column("through")?.integer, position < Int64(through) { return nil }
        let rows = try await read(
            """
            SELECT * FROM (
                SELECT * FROM (
                    SELECT m.seq AS position, NULL AS payload, \(Self.replayedColumns)
                    FROM conversations AS c
                    JOIN messages AS m ON m.user_lo = c.user_lo AND m.user_hi = c.user_hi AND m.seq > ?1
                    WHERE c.user_lo = ?2 AND c.last_seq > ?1
                    ORDER BY m.seq LIMIT ?3
                )
                UNION ALL
                SELECT * FROM (
                    SELECT m.seq, NULL, \(Self.replayedColumns)
                    FROM conversations AS c
                    JOIN messages AS m ON m.user_lo = c.user_lo AND m.user_hi = c.user_hi AND m.seq > ?1
                    WHERE c.user_hi = ?2 AND c.user_lo <> ?2 AND c.last_seq > ?1
                    ORDER BY m.seq LIMIT ?3
                )
                UNION ALL
                SELECT * FROM (
                    SELECT position, min(payload), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
                    FROM changes
                    WHERE (user_id = ?2 OR user_id IN (SELECT group_id FROM group_members WHERE user_id = ?2))
                      AND position > ?1
                    -- A removal is kept under the group and under the user it removed: one row
                    -- per position (the user may be back in the group).
                    GROUP BY position
                    ORDER BY position LIMIT ?3
                )
            )
            ORDER BY position
            LIMIT ?3
            """,
            [.integer(Int(position)), .text(user.hexString), .integer(limit)])
        var events = try rows.map { row in
            guard let position = row.column("position")?.integer else {
                throw SQLiteRowDecoder.CorruptRow(column: "position")
            }
            if case .text(let payload) = row.column("payload") {
                var ignored: Int64?
                guard let event = ClusterEvent(encoded: payload, position: &ignored) else {
                    throw SQLiteRowDecoder.CorruptRow(column: "changes.payload")
                }
                return StoredEvent(event: event, position: Int64(position))
            }
            return StoredEvent(event: .messageCreated(try Self.message(row)), position: Int64(position))
        }
        // The messages of the user's groups (a group's whole history is its members').
        let grouped = try await read(
            """
            SELECT \(Self.groupMessageColumns) FROM group_members AS m
            JOIN groups AS g ON g.id = m.group_id AND g.last_seq > ?1
            JOIN group_messages AS gm ON gm.group_id = m.group_id AND gm.seq > ?1
            WHERE m.user_id = ?2
            ORDER BY gm.seq LIMIT ?3
            """,
            [.integer(Int(position)), .text(user.hexString), .integer(limit)])
        if !grouped.isEmpty {
            events += try grouped.map { row in
                let seq = Int64(row.column("seq")?.integer ?? 0)
                return StoredEvent(event: .groupMessageCreated(try Self.groupMessage(row)), position: seq)
            }
            events.sort { $0.position < $1.position }
            if events.count > limit { events.removeLast(events.count - limit) }
        }
        return events
    }
}
