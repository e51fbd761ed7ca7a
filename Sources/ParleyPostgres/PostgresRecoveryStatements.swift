import Logging
import PostgresNIO

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The statements every connecting or recovering socket runs, prepared once per connection.
///
/// Sent as ordinary queries, PostgreSQL parsed and planned each of them on every call. In the
/// 2,000-client reconnect of `scripts/bench recovery`, `pg_stat_statements` counted 8.5 s of
/// planning against 1.3 s of execution for these five, PostgreSQL was at 80–92 % of a core,
/// and it was the storm's limit. Prepared, PostgreSQL plans them a few times per connection and
/// then keeps a generic plan (they are index lookups whatever the parameters).
///
/// Run them with ``PostgresConnection/rows(of:logger:)``: PostgresNIO keeps a failed
/// preparation for the life of its connection and fails every later run of that statement with
/// it, so a failure closes the connection and the pool opens another.
enum PostgresRecoveryStatements {
    /// The newest position in `user`'s history: their conversations' messages, their changes,
    /// their groups' messages and changes (0 for none).
    struct LatestPosition: UserStatement {
        static let sql = """
            SELECT GREATEST(
                (SELECT max(last_seq) FROM parley_conversations WHERE user_lo = $1),
                (SELECT max(last_seq) FROM parley_conversations WHERE user_hi = $1),
                (SELECT max(position) FROM parley_changes WHERE user_id = $1),
                (SELECT max(g.last_seq) FROM group_members AS m JOIN groups AS g ON g.id = m.group_id
                 WHERE m.user_id = $1),
                (SELECT max(c.position) FROM group_members AS m
                 CROSS JOIN LATERAL (SELECT max(position) AS position FROM parley_changes
                                     WHERE user_id = m.group_id) AS c
                 WHERE m.user_id = $1),
                0)
            """
        typealias Row = Int64

        var user: String

        func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
    }

    /// The last position whose changes were purged: a history read from before it may miss some.
    struct PurgedThrough: PostgresPreparedStatement {
        static let sql = "SELECT through FROM parley_changes_purged"
        typealias Row = Int64

        func makeBindings() throws -> PostgresBindings { PostgresBindings() }

        func decodeRow(_ row: PostgresRow) throws -> Int64 { try row.decode(Int64.self) }
    }

    /// The first `limit` events of `user`'s own history after `position`: each conversation with
    /// something newer gives its first `limit` messages after it (by the conversation index), the
    /// changes theirs (by the primary key); a change carries its payload, a message its columns.
    struct EventsAfter: HistoryPageStatement {
        static let sql = """
            SELECT e.pos, e.payload, e.id, e.sender_id, e.receiver_id, e.text, e.image, e.image_media_id,
                   e.created_at, e.updated_at, e.read_at, e.edited_at, e.deleted_at
            FROM (
                SELECT m.seq AS pos, NULL::text AS payload, m.id, m.sender_id, m.receiver_id, m.text, m.image,
                       m.image_media_id, m.created_at, m.updated_at, m.read_at, m.edited_at, m.deleted_at
                FROM parley_conversations AS c
                CROSS JOIN LATERAL (
                    SELECT * FROM messages AS m
                    WHERE m.user_lo = c.user_lo AND m.user_hi = c.user_hi AND m.seq > $2
                    ORDER BY m.seq LIMIT $3
                ) AS m
                WHERE (c.user_lo = $1 OR c.user_hi = $1) AND c.last_seq > $2
                UNION ALL
                SELECT * FROM (
                    -- A removal is kept under the group and under the user it removed: one row
                    -- per position (the user may be back in the group).
                    SELECT DISTINCT ON (position) position, payload, NULL, NULL, NULL, NULL, NULL, NULL,
                           NULL::timestamptz, NULL::timestamptz, NULL::timestamptz, NULL::timestamptz,
                           NULL::timestamptz
                    FROM parley_changes
                    WHERE (user_id = $1 OR user_id IN (SELECT group_id FROM group_members WHERE user_id = $1))
                      AND position > $2
                    ORDER BY position LIMIT $3
                ) AS changes
            ) AS e
            ORDER BY e.pos
            LIMIT $3
            """
        typealias Row = (
            Int64, String?, String?, String?, String?, String?, String?, String?, Date?, Date?, Date?, Date?, Date?
        )

        var user: String
        var position: Int64
        var limit: Int64

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// The first `limit` messages of `user`'s groups after `position` (a group's whole history is
    /// its members').
    struct GroupMessagesAfter: HistoryPageStatement {
        static let sql = """
            SELECT \(PostgresStore.groupMessageColumns) FROM group_members AS m
            JOIN groups AS g ON g.id = m.group_id AND g.last_seq > $2
            CROSS JOIN LATERAL (
                SELECT * FROM group_messages AS gm WHERE gm.group_id = m.group_id AND gm.seq > $2
                ORDER BY gm.seq LIMIT $3
            ) AS gm
            WHERE m.user_id = $1
            ORDER BY gm.seq LIMIT $3
            """
        typealias Row = PostgresStore.GroupMessageRow

        var user: String
        var position: Int64
        var limit: Int64

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }

    /// The open groups `user` is a member of, most recently created first.
    struct GroupsOf: UserStatement {
        static let sql = """
            SELECT \(PostgresStore.groupColumns) FROM group_members AS m JOIN groups AS g ON g.id = m.group_id
            WHERE m.user_id = $1 AND g.closed_at IS NULL
            ORDER BY g.created_at DESC, g.id DESC
            """
        typealias Row = PostgresStore.GroupRow

        var user: String

        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(Row.self) }
    }
}

/// A statement of one user's: `$1` is their id.
protocol UserStatement: PostgresPreparedStatement {
    var user: String { get }
}

extension UserStatement {
    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 1)
        bindings.append(user)
        return bindings
    }
}

/// A page of one user's history: `$1` is their id, `$2` the position the page starts after,
/// `$3` the most rows.
protocol HistoryPageStatement: PostgresPreparedStatement {
    var user: String { get }
    var position: Int64 { get }
    var limit: Int64 { get }
}

extension HistoryPageStatement {
    func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 3)
        bindings.append(user)
        bindings.append(position)
        bindings.append(limit)
        return bindings
    }
}

extension PostgresConnection {
    /// Runs `statement` and reads its rows. A failure closes the connection, so that the pool
    /// replaces it: PostgresNIO remembers a failed preparation for as long as the connection
    /// lives and answers every later run of the statement with that error without asking the
    /// server. A prepare that waited past `statement_timeout` behind a migration's lock would
    /// otherwise break the read on that connection for good, and the pool keeps two connections
    /// for the server's life.
    func rows<Statement: PostgresPreparedStatement>(of statement: Statement, logger: Logger) async throws
        -> [Statement.Row]
    {
        do {
            var rows: [Statement.Row] = []
            for try await row in try await execute(statement, logger: logger) { rows.append(row) }
            return rows
        } catch {
            let closing: EventLoopFuture<Void> = close()
            closing.whenComplete { _ in }
            throw error
        }
    }
}
