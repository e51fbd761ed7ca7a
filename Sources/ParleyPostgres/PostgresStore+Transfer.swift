import Logging
import ParleyDomain
import PostgresNIO

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Bulk reads and writes for `parley copy`.
///
/// Imports stream each batch with `COPY` into a temporary table and move it into place with one
/// `INSERT … SELECT … ON CONFLICT (id) DO NOTHING`, so a batch costs two round trips whatever its
/// size, and records the target already has are left as they are.
extension PostgresStore: ChatImporter {
    /// Foreign keys: every message's users exist.
    public var enforcesReferences: Bool { true }

    public func countUsers() async throws -> Int {
        try await count("SELECT count(*) FROM users")
    }

    public func countMessages() async throws -> Int {
        try await count("SELECT count(*) FROM messages")
    }

    public func exportUsers(after: ObjectID?, limit: Int) async throws -> [ExportedRecord<UserRecord>] {
        try await perform { client in
            let columns = try await self.exportedUserColumns(client)
            let rows = try await client.query(
                """
                SELECT \(unescaped: columns) FROM users
                WHERE id > \(after?.hexString ?? "") ORDER BY id LIMIT \(limit)
                """,
                logger: self.logger
            )
            var records: [ExportedRecord<UserRecord>] = []
            for try await row in rows.decode(UserRow.self) {
                records.append(ExportedRecord(id: row.0) { try Self.userRecord(row) })
            }
            return records
        }
    }

    /// Waits until every transaction that was inserting messages when the newest message was
    /// read has ended: `seq` is taken at insert but becomes visible at commit, so a transaction
    /// still in flight may hold a smaller `seq` than the newest visible one. Gives up waiting
    /// after 30 s (a session left idle in a transaction) and says so; its deadline is longer
    /// than that wait (the store's usual deadline, 10 s by default, cut it short and failed the
    /// copy instead).
    public func settledLastMessageID() async throws -> ObjectID? {
        try await perform(within: Self.settleWait + operationTimeout) { client in
            let rows = try await client.query(
                """
                SELECT (SELECT id FROM messages ORDER BY seq DESC LIMIT 1),
                       ARRAY(SELECT pg_snapshot_xip(pg_current_snapshot())::text)
                """,
                logger: self.logger
            )
            var newest: String?
            var inFlight: [String] = []
            for try await (id, xids) in rows.decode((String?, [String]).self) {
                newest = id
                inFlight = xids
            }
            let deadline = ContinuousClock.now + Self.settleWait
            while !inFlight.isEmpty, ContinuousClock.now < deadline {
                // Only those writing to this database's messages matter (the snapshot lists every
                // transaction of the cluster): a transaction that took a `seq` holds its
                // RowExclusiveLock on messages until it ends.
                let still = try await client.query(
                    """
                    SELECT x FROM unnest(\(inFlight)::text[]) AS x
                    WHERE pg_xact_status(x::xid8) = 'in progress'
                      AND EXISTS (
                        SELECT 1 FROM pg_locks t JOIN pg_locks r ON r.pid = t.pid
                        WHERE t.locktype = 'transactionid' AND t.transactionid = xid(x::xid8)
                          AND r.locktype = 'relation' AND r.relation = 'messages'::regclass
                          AND r.mode = 'RowExclusiveLock'
                          AND r.database = (SELECT oid FROM pg_database WHERE datname = current_database())
                      )
                    """,
                    logger: self.logger
                )
                inFlight = try await still.decode(String.self).reduce(into: []) { $0.append($1) }
                if !inFlight.isEmpty { try await Task.sleep(for: .milliseconds(50)) }
            }
            if !inFlight.isEmpty {
                self.logger.warning(
                    "Transactions still open on the source after 30 s; messages they are storing may be copied by the next run",
                    metadata: ["transactions": "\(inFlight.count)"]
                )
            }
            return try newest.map { id in
                guard let id = ObjectID(id) else { throw CorruptRow(column: "messages.id") }
                return id
            }
        }
    }

    /// Longest ``settledLastMessageID()`` waits for transactions in flight.
    static let settleWait = Duration.seconds(30)

    public func exportMessages(after: ObjectID?, through: ObjectID, limit: Int) async throws
        -> [ExportedRecord<Message>]
    {
        try await perform { client in
            var seq: Int64 = 0
            if let after {
                seq = try await self.sequence(of: after, client: client)
            }
            let bound = try await self.sequence(of: through, client: client)
            let columns = try await self.exportedMessageColumns(client)
            let rows = try await client.query(
                """
                SELECT \(unescaped: columns) FROM messages
                WHERE seq > \(seq) AND seq <= \(bound) ORDER BY seq LIMIT \(limit)
                """,
                logger: self.logger
            )
            var records: [ExportedRecord<Message>] = []
            for try await row in rows.decode(MessageRow.self) {
                records.append(ExportedRecord(id: row.0) { try Self.message(row) })
            }
            return records
        }
    }

    private func sequence(of id: ObjectID, client: PostgresClient) async throws -> Int64 {
        let rows = try await client.query("SELECT seq FROM messages WHERE id = \(id.hexString)", logger: logger)
        guard let found = try await rows.decode(Int64.self).first(where: { _ in true }) else {
            throw StoreError.cursorNotFound
        }
        return found
    }

    public func messagesByID(after: ObjectID?, limit: Int) async throws -> [Message] {
        try await perform { client in
            let columns = try await self.exportedMessageColumns(client)
            let rows = try await client.query(
                """
                SELECT \(unescaped: columns) FROM messages
                WHERE id > \(after?.hexString ?? "") ORDER BY id LIMIT \(limit)
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

    public func users(withIDs ids: [ObjectID]) async throws -> [ObjectID: UserRecord] {
        let keys = ids.map(\.hexString)
        return try await perform { client in
            let columns = try await self.exportedUserColumns(client)
            let rows = try await client.query(
                "SELECT \(unescaped: columns) FROM users WHERE id = ANY(\(keys))",
                logger: self.logger
            )
            var found: [ObjectID: UserRecord] = [:]
            for try await row in rows.decode(UserRow.self) {
                let record = try Self.userRecord(row)
                found[record.user.id] = record
            }
            return found
        }
    }

    public func userIDs(withEmails emails: [String]) async throws -> [String: ObjectID] {
        try await perform { client in
            let rows = try await client.query(
                "SELECT id, email FROM users WHERE email = ANY(\(emails))",
                logger: self.logger
            )
            var found: [String: ObjectID] = [:]
            for try await (id, email) in rows.decode((String, String).self) {
                guard let id = ObjectID(id) else { throw CorruptRow(column: "users.id") }
                found[email] = id
            }
            return found
        }
    }

    public func lastStoredMessageID() async throws -> ObjectID? {
        try await perform { client in
            let rows = try await client.query("SELECT id FROM messages ORDER BY seq DESC LIMIT 1", logger: self.logger)
            for try await id in rows.decode(String.self) {
                guard let id = ObjectID(id) else { throw CorruptRow(column: "messages.id") }
                return id
            }
            return nil
        }
    }

    public func hasSchema() async throws -> Bool {
        try await perform { client in
            let rows = try await client.query(
                "SELECT to_regclass('users') IS NOT NULL AND to_regclass('messages') IS NOT NULL",
                logger: self.logger
            )
            return try await rows.decode(Bool.self).first(where: { _ in true }) ?? false
        }
    }

    public func importUsers(_ users: [UserRecord]) async throws -> Int {
        guard !users.isEmpty else { return 0 }
        var rows = PostgresCopyText(capacity: users.count * 200)
        for (index, record) in users.enumerated() {
            let user = record.user
            rows.append(Int64(index))
            rows.append(user.id.hexString)
            rows.append(user.name)
            rows.append(user.email)
            rows.append(record.passwordHash)
            rows.append(user.avatar)
            rows.append(record.avatarMediaID)
            rows.append(user.createdAt.millisecondsSince1970)
            rows.append(user.updatedAt.millisecondsSince1970)
            rows.append(record.sessionsRevokedAt?.millisecondsSince1970)
            rows.append(record.deletedAt?.millisecondsSince1970)
            rows.endRow()
        }
        return try await bulkInsert(
            staging: """
                ord integer, id text, name text, email text, password text, avatar text, avatar_media_id text,
                created_ms bigint, updated_ms bigint, revoked_ms bigint, deleted_ms bigint
                """,
            columns: [
                "ord", "id", "name", "email", "password", "avatar", "avatar_media_id", "created_ms", "updated_ms",
                "revoked_ms", "deleted_ms",
            ],
            rows: rows.buffer,
            insert: """
                INSERT INTO users (id, name, email, password, avatar, avatar_media_id, created_at, updated_at,
                                   sessions_revoked_at, deleted_at)
                SELECT id, name, email, password, avatar, avatar_media_id,
                       timestamptz 'epoch' + created_ms * interval '1 millisecond',
                       timestamptz 'epoch' + updated_ms * interval '1 millisecond',
                       timestamptz 'epoch' + revoked_ms * interval '1 millisecond',
                       timestamptz 'epoch' + deleted_ms * interval '1 millisecond'
                FROM parley_copy_staging ORDER BY ord
                ON CONFLICT (id) DO NOTHING
                """,
            suppressEvents: false
        )
    }

    public func importMessages(_ messages: [Message]) async throws -> Int {
        guard !messages.isEmpty else { return 0 }
        var rows = PostgresCopyText(capacity: messages.count * 160)
        for (index, message) in messages.enumerated() {
            rows.append(Int64(index))
            rows.append(message.id.hexString)
            rows.append(message.senderID.hexString)
            rows.append(message.receiverID.hexString)
            rows.append(message.text)
            rows.append(message.image)
            rows.append(message.imageMediaID)
            rows.append(message.createdAt.millisecondsSince1970)
            rows.append(message.updatedAt.millisecondsSince1970)
            rows.append(message.readAt?.millisecondsSince1970)
            rows.append(message.editedAt?.millisecondsSince1970)
            rows.append(message.deletedAt?.millisecondsSince1970)
            rows.endRow()
        }
        return try await bulkInsert(
            staging: """
                ord integer, id text, sender_id text, receiver_id text, text text, image text, image_media_id text,
                created_ms bigint, updated_ms bigint, read_ms bigint, edited_ms bigint, deleted_ms bigint
                """,
            columns: [
                "ord", "id", "sender_id", "receiver_id", "text", "image", "image_media_id", "created_ms", "updated_ms",
                "read_ms", "edited_ms", "deleted_ms",
            ],
            rows: rows.buffer,
            insert: """
                INSERT INTO messages (id, sender_id, receiver_id, text, image, image_media_id, created_at, updated_at,
                                      read_at, edited_at, deleted_at)
                SELECT id, sender_id, receiver_id, text, image, image_media_id,
                       timestamptz 'epoch' + created_ms * interval '1 millisecond',
                       timestamptz 'epoch' + updated_ms * interval '1 millisecond',
                       timestamptz 'epoch' + read_ms * interval '1 millisecond',
                       timestamptz 'epoch' + edited_ms * interval '1 millisecond',
                       timestamptz 'epoch' + deleted_ms * interval '1 millisecond'
                FROM parley_copy_staging ORDER BY ord
                ON CONFLICT (id) DO NOTHING
                """,
            suppressEvents: true
        )
    }

    /// Streams `rows` into a temporary table and inserts them from there, in one transaction.
    /// - Returns: how many rows `insert` inserted.
    private func bulkInsert(
        staging: String,
        columns: [String],
        rows: ByteBuffer,
        insert: String,
        suppressEvents: Bool
    ) async throws -> Int {
        try await perform { client in
            try await client.withTransaction(logger: self.logger) { connection in
                if suppressEvents {
                    // Copied messages are history: connected clients must not hear them as new.
                    // Conversation summaries are rebuilt once, by finishImport().
                    try await connection.query("SET LOCAL parley.suppress_events = 'on'", logger: self.logger)
                    try await connection.query("SET LOCAL parley.deferred_summaries = 'on'", logger: self.logger)
                    try await connection.query(
                        "INSERT INTO parley_summaries_pending DEFAULT VALUES ON CONFLICT DO NOTHING",
                        logger: self.logger
                    )
                }
                try await connection.query(
                    PostgresQuery(unsafeSQL: "CREATE TEMP TABLE parley_copy_staging (\(staging)) ON COMMIT DROP"),
                    logger: self.logger
                )
                try await connection.copyFrom(table: "parley_copy_staging", columns: columns, logger: self.logger) {
                    writer in
                    try await writer.write(rows)
                }
                let inserted = try await connection.query(
                    PostgresQuery(unsafeSQL: "WITH inserted AS (\(insert) RETURNING 1) SELECT count(*) FROM inserted"),
                    logger: self.logger
                )
                return Int(try await inserted.decode(Int64.self).first(where: { _ in true }) ?? 0)
            }
        }
    }

    /// The user columns to read: a database from before session revocation (migration 8) has no
    /// revocation or deletion times.
    private func exportedUserColumns(_ client: PostgresClient) async throws -> String {
        guard try await hasColumn("deleted_at", in: "users", client) else {
            return "id, name, email, password, avatar, avatar_media_id, created_at, updated_at, "
                + "NULL::timestamptz AS sessions_revoked_at, NULL::timestamptz AS deleted_at"
        }
        return Self.userColumns
    }

    private func hasColumn(_ column: String, in table: String, _ client: PostgresClient) async throws -> Bool {
        let rows = try await client.query(
            """
            SELECT count(*) FROM information_schema.columns
            WHERE table_schema = current_schema() AND table_name = \(table) AND column_name = \(column)
            """,
            logger: logger
        )
        return try await rows.decode(Int64.self).first(where: { _ in true }) ?? 0 > 0
    }

    /// The message columns to read: a source is never migrated, and a database from before read
    /// receipts (migration 3) has no read, edit or delete times.
    private func exportedMessageColumns(_ client: PostgresClient) async throws -> String {
        guard try await !hasColumn("read_at", in: "messages", client) else { return Self.messageColumns }
        return "id, sender_id, receiver_id, text, image, image_media_id, created_at, updated_at, "
            + "NULL::timestamptz AS read_at, NULL::timestamptz AS edited_at, NULL::timestamptz AS deleted_at"
    }

    /// Rebuilds the conversation summaries if an import deferred them (a run that copied nothing
    /// leaves them alone). The rebuild reads every message: no per-operation deadline.
    /// Into an empty messages table, the two conversation indexes are dropped for the import and
    /// built once at the end (``finishImport()``; also by ``migrate()``, should a copy have been
    /// interrupted): maintaining them row by row is much of the insert time. The primary key
    /// and `seq`'s unique index stay, for duplicates and resuming. References are checked by the
    /// copy itself; the database's users check stands aside for imports (migration 0007).
    public func beginImport() async throws {
        try await perform { client in
            try await client.withTransaction(logger: self.logger) { connection in
                let rows = try await connection.query(
                    "SELECT NOT EXISTS (SELECT 1 FROM messages)", logger: self.logger)
                guard try await rows.decode(Bool.self).first(where: { _ in true }) ?? false else { return }
                for statement in MessageIndexes.drop {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: self.logger)
                }
                self.logger.info("Importing into an empty messages table: indexes are built at the end")
            }
        }
    }

    /// Builds the indexes set aside (each on a connection of its own) while the conversation
    /// summaries are rebuilt.
    public func finishImport() async throws {
        try await perform(within: .seconds(3600)) { client in
            let logger = self.logger
            try await withThrowingTaskGroup(of: Void.self) { group in
                for statement in MessageIndexes.indexes {
                    group.addTask { try await Self.restore(statement, client, logger: logger) }
                }
                group.addTask {
                    try await client.withTransaction(logger: logger) { connection in
                        // The rebuild sorts every message: in memory rather than on disk, for as
                        // long as it takes.
                        try await connection.query("SET LOCAL work_mem = '256MB'", logger: logger)
                        try await connection.query("SET LOCAL statement_timeout = 0", logger: logger)
                        try await connection.run("SELECT parley_conversations_rebuild()", logger: logger)
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    /// Creates whichever of the messages table's secondary indexes are missing (all there: a few
    /// catalog lookups).
    static func restoreMessageIndexes(_ client: PostgresClient, logger: Logger) async throws {
        for statement in MessageIndexes.indexes {
            try await restore(statement, client, logger: logger)
        }
    }

    /// Runs one restoring statement in its own transaction, under an advisory lock of its own, so
    /// that two processes (two instances starting after an interrupted copy) never build the
    /// same thing at once.
    private static func restore(_ statement: String, _ client: PostgresClient, logger: Logger) async throws {
        let key = 7_357_230 + (MessageIndexes.indexes.firstIndex(of: statement) ?? 0)
        try await client.withTransaction(logger: logger) { connection in
            // Building an index over every message may take longer than `statement_timeout`.
            try await connection.query("SET LOCAL statement_timeout = 0", logger: logger)
            try await connection.run("SELECT pg_advisory_xact_lock(\(key))", logger: logger)
            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
        }
    }

    private func count(_ sql: String) async throws -> Int {
        try await perform { client in
            let rows = try await client.query(PostgresQuery(unsafeSQL: sql), logger: self.logger)
            return Int(try await rows.decode(Int64.self).first(where: { _ in true }) ?? 0)
        }
    }
}

/// The messages table's secondary indexes, as the migrations create them. (Its foreign keys,
/// which imports also set aside before migration 0007 replaced them, are dropped by that
/// migration.)
enum MessageIndexes {
    static let drop = [
        "DROP INDEX IF EXISTS messages_conversation",
        "DROP INDEX IF EXISTS messages_conversation_updated",
    ]

    /// Each looks in the catalog first: a statement that finds everything in place takes no
    /// lock on the table (a server starting next to running ones must not block their inserts).
    static let indexes = [
        index("messages_conversation", "(user_lo, user_hi, seq)"),
        index("messages_conversation_updated", "(user_lo, user_hi, updated_at, seq)"),
    ]

    private static func index(_ name: String, _ columns: String) -> String {
        """
        DO $$ BEGIN
            IF to_regclass('\(name)') IS NULL THEN
                CREATE INDEX \(name) ON messages \(columns);
            END IF;
        END $$
        """
    }
}
