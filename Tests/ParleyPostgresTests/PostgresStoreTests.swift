import Foundation
import Logging
import ParleyChat
import ParleyDomain
import PostgresNIO
import ServiceLifecycle
import Synchronization
import Testing

@testable import ParleyPostgres
@testable import ParleyTesting

/// What only the PostgreSQL store does: migrations shared by several instances, the index
/// behind conversation paging, and bounded waits while the database is down.
@Suite(
    "PostgreSQL store", .enabled(if: TestPostgres.adminURL != nil, "set PARLEY_TEST_DATABASE_URL (scripts/test does)"))
struct PostgresStoreTests {
    /// An empty database (no migrations applied).
    static func emptyDatabase() async throws -> String {
        let admin = try #require(TestPostgres.adminURL)
        let name = "parley_empty_\(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: ""))"
        try await TestPostgres.withAdminClient(admin) { client in
            try await client.query("CREATE DATABASE \(unescaped: name)")
        }
        return TestPostgres.replacingDatabase(in: admin, with: name)
    }

    static func withRunning<Result: Sendable>(
        _ stores: [PostgresStore],
        _ body: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for store in stores {
                for service in store.servicesForMigration { group.addTask { try await service.run() } }
            }
            defer { group.cancelAll() }
            return try await body()
        }
    }

    @Test func instancesStartingTogetherMigrateOnce() async throws {
        let url = try PostgresConnectionURL(try await Self.emptyDatabase())
        let stores = (0..<4).map { _ in PostgresStore(url: url, maximumConnections: 2, logger: .quiet) }
        try await Self.withRunning(stores) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for store in stores { group.addTask { try await store.migrate() } }
                try await group.waitForAll()
            }
            // Applied exactly once each, and the schema works.
            let record = Fixture.user()
            try await stores[0].insertUser(record)
            #expect(try await stores[3].user(id: record.user.id) == record)
        }
        let admin = try #require(TestPostgres.adminURL)
        let database = String(url.displayName.split(separator: "/").last!)
        let count = try await TestPostgres.withAdminClient(TestPostgres.replacingDatabase(in: admin, with: database)) {
            client in
            var count = 0
            for try await value in try await client.query("SELECT count(*) FROM parley_schema_migrations").decode(
                Int.self)
            {
                count = value
            }
            return count
        }
        #expect(count == PostgresSchema.migrations.count, "each migration applied exactly once")
    }

    /// The messages table's secondary indexes and foreign keys (none since migration 0007) that
    /// exist now.
    static func messageIndexesAndKeys(_ url: String) async throws -> Set<String> {
        try await TestPostgres.withAdminClient(url) { client in
            let rows = try await client.query(
                """
                SELECT indexname FROM pg_indexes WHERE tablename = 'messages'
                UNION ALL SELECT conname FROM pg_constraint WHERE conrelid = 'messages'::regclass AND contype = 'f'
                """
            )
            var names = Set<String>()
            for try await name in rows.decode(String.self) { names.insert(name) }
            return names
        }
    }

    static let setAside: Set<String> = ["messages_conversation", "messages_conversation_updated"]

    @Test func aBulkImportSetsIndexesAsideAndAnInterruptedOneGetsThemBack() async throws {
        let raw = try await TestPostgres.freshDatabaseURL()
        let store = PostgresStore(url: try PostgresConnectionURL(raw), maximumConnections: 2, logger: .quiet)
        try await Self.withRunning([store]) {
            try await store.migrate()
            let (ann, bob) = (Fixture.user(), Fixture.user())
            _ = try await store.importUsers([ann, bob])
            try await store.beginImport()
            #expect(try await Self.messageIndexesAndKeys(raw).isDisjoint(with: Self.setAside))
            #expect(try await Self.messageIndexesAndKeys(raw).contains("messages_seq_key"), "kept: resuming needs it")
            _ = try await store.importMessages([Fixture.message(from: ann.user.id, to: bob.user.id)])
            // Interrupted here: a server starting on the database builds them again.
            try await store.migrate()
            #expect(try await Self.messageIndexesAndKeys(raw).isSuperset(of: Self.setAside))
            // Into a table that has messages, nothing is set aside.
            try await store.beginImport()
            #expect(try await Self.messageIndexesAndKeys(raw).isSuperset(of: Self.setAside))
            try await store.finishImport()
            #expect(try await Self.messageIndexesAndKeys(raw).isSuperset(of: Self.setAside))
        }
    }

    /// Whether a statement starting with `prefix` comes to wait on a lock within about 5 s.
    static func aStatementWaitsOnALock(startingWith prefix: String, on client: PostgresClient) async throws -> Bool {
        for _ in 0..<500 {
            let rows = try await client.query(
                """
                SELECT count(*) FROM pg_stat_activity
                WHERE starts_with(query, \(prefix)) AND wait_event_type = 'Lock'
                """
            )
            if try await rows.decode(Int.self).first(where: { _ in true }) == 1 { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    /// Users 1 to `count`, their ids the number in hex (`000…001`), for tests that fill tables
    /// with SQL.
    static func insertNumberedUsers(_ count: Int, with client: PostgresClient) async throws {
        try await client.query(
            """
            INSERT INTO users (id, name, email, password, created_at, updated_at)
            SELECT lpad(to_hex(i), 24, '0'), 'u' || i, 'u' || i || '@example.com', 'x', now(), now()
            FROM generate_series(1, \(count)) AS i
            """
        )
    }

    @Test func conversationPagesUseTheIndexNotAScan() async throws {
        let url = try await TestPostgres.freshDatabaseURL()
        try await TestPostgres.withAdminClient(url) { client in
            // 20,000 messages over 100 conversations.
            try await Self.insertNumberedUsers(101, with: client)
            try await client.query(
                """
                INSERT INTO messages (id, sender_id, receiver_id, text, created_at, updated_at)
                SELECT lpad(to_hex(1000 + i), 24, '0'), lpad(to_hex(1), 24, '0'), lpad(to_hex(2 + i % 100), 24, '0'),
                       'm' || i, now(), now()
                FROM generate_series(1, 20000) AS i
                """
            )
            try await client.query("ANALYZE messages")
            var plan: [String] = []
            let rows = try await client.query(
                """
                EXPLAIN SELECT id FROM messages
                WHERE user_lo = '000000000000000000000001' AND user_hi = '000000000000000000000002'
                  AND seq < 15000 ORDER BY seq DESC LIMIT 50
                """
            )
            for try await line in rows.decode(String.self) { plan.append(line) }
            let text = plan.joined(separator: "\n")
            #expect(text.contains("messages_conversation"), "\(text)")
            #expect(!text.contains("Seq Scan"), "\(text)")
            #expect(!text.contains("Sort"), "the index already gives the order: \(text)")
        }
    }

    /// A stored message updates its conversation's summary in place (a HOT update, no new index
    /// entries: migration 0006), and the sidebar still finds a user's conversations by index.
    @Test func summaryUpdatesAreInPlaceAndTheSidebarFindsConversationsByIndex() async throws {
        let url = try await TestPostgres.freshDatabaseURL()
        try await TestPostgres.withAdminClient(url) { client in
            // 10,000 conversations: each user with the next two.
            try await Self.insertNumberedUsers(5002, with: client)
            let conversations = """
                SELECT lpad(to_hex(i), 24, '0') AS sender, lpad(to_hex(i + step), 24, '0') AS receiver
                FROM generate_series(1, 5000) AS i, generate_series(1, 2) AS step
                """
            try await client.query(
                """
                INSERT INTO messages (id, sender_id, receiver_id, text, created_at, updated_at)
                SELECT substr(md5(sender || receiver), 1, 24), sender, receiver, 'first', now(), now()
                FROM (\(unescaped: conversations)) AS c
                """
            )
            try await client.query("ANALYZE parley_conversations")
            let (updated, inPlace) = try await client.withTransaction(logger: .quiet) { connection in
                try await connection.query(
                    """
                    INSERT INTO messages (id, sender_id, receiver_id, text, created_at, updated_at)
                    SELECT substr(md5(receiver || sender), 1, 24), receiver, sender, 'second', now(), now()
                    FROM (\(unescaped: conversations)) AS c
                    """,
                    logger: .quiet
                )
                let rows = try await connection.query(
                    """
                    SELECT pg_stat_get_xact_tuples_updated('parley_conversations'::regclass),
                           pg_stat_get_xact_tuples_hot_updated('parley_conversations'::regclass)
                    """,
                    logger: .quiet
                )
                for try await counts in rows.decode((Int, Int).self) { return counts }
                return (0, 0)
            }
            #expect(updated == 10_000)
            #expect(inPlace == updated, "\(inPlace) of \(updated) summary updates were in place")
            var plan: [String] = []
            let me = "'\(String(repeating: "0", count: 21))9c4'"
            let rows = try await client.query(
                """
                EXPLAIN SELECT c.last_seq FROM parley_conversations c
                WHERE (c.user_lo = \(unescaped: me) OR c.user_hi = \(unescaped: me)) AND c.last_seq < 9223372036854775807
                ORDER BY c.last_seq DESC LIMIT 50
                """
            )
            for try await line in rows.decode(String.self) { plan.append(line) }
            let text = plan.joined(separator: "\n")
            #expect(text.contains("parley_conversations_pkey") && text.contains("parley_conversations_hi"), "\(text)")
            #expect(!text.contains("Seq Scan"), "\(text)")
        }
    }

    /// What the foreign keys from messages to users did, done per statement (migration 0007):
    /// whoever writes the rows, a message needs existing users, and a user with messages stays.
    @Test func messagesNeedTheirUsersAndUsersWithMessagesStay() async throws {
        let url = try await TestPostgres.freshDatabaseURL()
        try await TestPostgres.withAdminClient(url) { client in
            let (ann, bob, cyd, nobody) = (ObjectID(), ObjectID(), ObjectID(), ObjectID())
            for user in [ann, bob, cyd] {
                try await client.query(
                    """
                    INSERT INTO users (id, name, email, password, created_at, updated_at)
                    VALUES (\(user.hexString), 'u', \(user.hexString + "@example.com"), 'x', now(), now())
                    """
                )
            }
            func refused(_ sql: String) async -> String? {
                do {
                    try await client.query(PostgresQuery(unsafeSQL: sql))
                    return nil
                } catch let error as PSQLError {
                    return error.serverInfo?[.sqlState]
                } catch {
                    return "\(error)"
                }
            }
            func message(from sender: ObjectID, to receiver: ObjectID) -> String {
                """
                INSERT INTO messages (id, sender_id, receiver_id, text, created_at, updated_at)
                VALUES ('\(ObjectID().hexString)', '\(sender.hexString)', '\(receiver.hexString)', 'hi', now(), now())
                """
            }
            #expect(await refused(message(from: ann, to: bob)) == nil)
            #expect(await refused(message(from: nobody, to: bob)) == "23503")
            #expect(await refused(message(from: ann, to: nobody)) == "23503")
            #expect(await refused("UPDATE messages SET receiver_id = '\(nobody.hexString)'") == "23503")
            #expect(await refused("UPDATE messages SET receiver_id = '\(cyd.hexString)'") == nil)
            #expect(await refused("DELETE FROM users WHERE id = '\(ann.hexString)'") == "23503")
            let rekey = "UPDATE users SET id = '\(nobody.hexString)' WHERE id = '\(cyd.hexString)'"
            #expect(await refused(rekey) == "23503")
            // Group members refer to users by a foreign key (0010), which refuses it first.
            #expect(["23503", "0A000"].contains(await refused("TRUNCATE users")))
            #expect(await refused("UPDATE users SET name = 'Bob' WHERE id = '\(bob.hexString)'") == nil)
            #expect(await refused("DELETE FROM users WHERE id = '\(bob.hexString)'") == nil, "Bob has no messages now")

            // A user deleted while a message to them is being stored: the delete waits for the
            // insert's lock, then sees its message.
            let dan = ObjectID()
            try await client.query(
                """
                INSERT INTO users (id, name, email, password, created_at, updated_at)
                VALUES (\(dan.hexString), 'u', \(dan.hexString + "@example.com"), 'x', now(), now())
                """
            )
            try await client.withConnection { inserting in
                try await inserting.query("BEGIN", logger: .quiet)
                try await inserting.query(PostgresQuery(unsafeSQL: message(from: ann, to: dan)), logger: .quiet)
                async let deletion = refused("DELETE FROM users WHERE id = '\(dan.hexString)'")
                let waiting = try await Self.aStatementWaitsOnALock(startingWith: "DELETE FROM users", on: client)
                #expect(waiting, "the delete waits for the insert")
                try await inserting.query("COMMIT", logger: .quiet)
                #expect(await deletion == "23503")
            }
        }
    }

    /// The batch writer checks its users without locking their rows (0013): a user row deleted
    /// by hand while a batch to that user is being stored still makes the batch fail, because the
    /// deletion holds the order lock that the batch waits for.
    @Test(.timeLimit(.minutes(1))) func aBatchToAUserBeingDeletedWaitsAndFails() async throws {
        let raw = try await TestPostgres.freshDatabaseURL()
        let store = PostgresStore(url: try PostgresConnectionURL(raw), maximumConnections: 2, logger: .quiet)
        try await Self.withRunning([store]) {
            let (ann, dan) = (Fixture.user(name: "Ann"), Fixture.user(name: "Dan"))
            for user in [ann, dan] { try await store.insertUser(user) }
            try await TestPostgres.withAdminClient(raw) { client in
                try await client.withConnection { deleting in
                    try await deleting.query("BEGIN", logger: .quiet)
                    try await deleting.query("DELETE FROM users WHERE id = \(dan.user.id.hexString)", logger: .quiet)
                    let message = Fixture.message(from: ann.user.id, to: dan.user.id)
                    let sending = Task { try await store.insertMessage(message) }
                    let waiting = try await Self.aStatementWaitsOnALock(
                        startingWith: "CALL parley_store_messages_committed", on: client)
                    #expect(waiting, "the batch waits for the deletion")
                    try await deleting.query("COMMIT", logger: .quiet)
                    await #expect(throws: StoreError.unknownUser) { try await sending.value }
                    #expect(try await store.message(id: message.id) == nil)
                }
            }
        }
    }

    @Test func concurrentSendsShareTransactionsAndABadOneFailsAlone() async throws {
        let url = try PostgresConnectionURL(try await TestPostgres.freshDatabaseURL())
        let store = PostgresStore(url: url, maximumConnections: 4, logger: .quiet)
        try await Self.withRunning([store]) {
            let (ann, bob, cyd) = (Fixture.user(name: "Ann"), Fixture.user(name: "Bob"), Fixture.user(name: "Cyd"))
            for user in [ann, bob, cyd] { try await store.insertUser(user) }
            let sent = (0..<300).map { index in
                Fixture.message(from: ann.user.id, to: index.isMultiple(of: 2) ? bob.user.id : cyd.user.id)
            }
            // Its sender does not exist: the users check rejects it, and only it.
            let orphan = Fixture.message(from: ObjectID(), to: bob.user.id)
            let failures = try await withThrowingTaskGroup(of: Bool.self) { group in
                for message in sent + [orphan] {
                    group.addTask {
                        do {
                            try await store.insertMessage(message)
                            return false
                        } catch {
                            return true
                        }
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(failures == 1)
            var stored = Set<ObjectID>()
            for other in [bob, cyd] {
                let page = try await store.conversation(
                    ConversationQuery(user: ann.user.id, peer: other.user.id, limit: 200))
                stored.formUnion(page.map(\.id))
            }
            #expect(stored == Set(sent.map(\.id)))
            // Fewer transactions than messages: concurrent sends were committed together.
            let transactions = try await store.client.query("SELECT count(DISTINCT xmin::text) FROM messages")
            for try await count in transactions.decode(Int.self) {
                #expect(count < sent.count, "\(count) transactions for \(sent.count) messages")
            }
        }
    }

    /// The bus holds its LISTEN connection for good, so a pool of one is one connection for
    /// queries besides it (before, a pool of one was the listener's alone and every query waited
    /// for its deadline).
    @Test(.timeLimit(.minutes(1))) func aPoolOfOneAnswersQueriesWhileTheBusListens() async throws {
        let url = try PostgresConnectionURL(try await TestPostgres.freshDatabaseURL())
        let store = PostgresStore(url: url, maximumConnections: 1, operationTimeout: .seconds(5), logger: .quiet)
        let services = ServiceGroup(services: store.services, logger: .quiet)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            defer { group.cancelAll() }
            try await store.migrate()
            let (ann, bob) = (Fixture.user(name: "Ann"), Fixture.user(name: "Bob"))
            let deliveries = try await heard(on: store.bus) {
                for user in [ann, bob] { try await store.insertUser(user) }
                try await store.insertMessage(Fixture.message(from: ann.user.id, to: bob.user.id, text: "pool of one"))
            }
            let announced = deliveries.contains { delivery in
                guard case .messageCreated(let message) = delivery.event else { return false }
                return message.text == "pool of one"
            }
            #expect(announced)
            try await store.checkReadiness()
        }
    }

    /// A query in flight does not stop when its caller gives up (postgres-nio sends nothing to
    /// the server), so a request whose query waits on a lock another session holds used to wait
    /// as long as that lock was held: now it fails at its deadline (and the abandoned query
    /// finishes on its own once the lock goes).
    @Test(.timeLimit(.minutes(1))) func aQueryWaitingOnALockFailsAtItsDeadline() async throws {
        let raw = try await TestPostgres.freshDatabaseURL()
        let store = PostgresStore(
            url: try PostgresConnectionURL(raw), maximumConnections: 2, operationTimeout: .seconds(2), logger: .quiet)
        try await Self.withRunning([store]) {
            let ann = Fixture.user(name: "Ann")
            try await store.insertUser(ann)
            try await TestPostgres.withAdminClient(raw) { other in
                try await other.withConnection { connection in
                    try await connection.query("BEGIN", logger: .quiet)
                    try await connection.query(
                        "SELECT 1 FROM users WHERE id = \(ann.user.id.hexString) FOR UPDATE", logger: .quiet)
                    let started = ContinuousClock.now
                    await #expect(throws: StoreError.unavailable("The database did not answer in time")) {
                        try await store.revokeSessions(of: ann.user.id, upTo: Timestamp(millisecondsSince1970: 1))
                    }
                    #expect(ContinuousClock.now - started < .seconds(15))
                    try await connection.query("ROLLBACK", logger: .quiet)
                }
            }
        }
    }

    /// PostgresNIO remembers a failed preparation for its connection's life and answers every
    /// later run of the statement with it: a prepare that waited out `statement_timeout` behind a
    /// lock (a migration's, say) broke that read on that connection for good. The connection is
    /// now closed, and the next call gets a new one.
    @Test(.timeLimit(.minutes(1))) func aPreparedReadThatFailedToPrepareWorksOnceTheLockIsGone() async throws {
        let raw = try await TestPostgres.freshDatabaseURL()
        let store = PostgresStore(
            url: try PostgresConnectionURL(raw), maximumConnections: 1, operationTimeout: .seconds(1), logger: .quiet)
        try await Self.withRunning([store]) {
            let ann = Fixture.user(name: "Ann")
            try await store.insertUser(ann)
            let waitOut = PostgresStore.statementTimeout(operationTimeout: .seconds(1)) + .seconds(1)
            try await TestPostgres.withAdminClient(raw) { other in
                try await other.withConnection { connection in
                    try await connection.query("BEGIN", logger: .quiet)
                    try await connection.query("LOCK TABLE group_members IN ACCESS EXCLUSIVE MODE", logger: .quiet)
                    await #expect(throws: (any Error).self) { try await store.groups(of: ann.user.id) }
                    // Until the statement in flight has timed out on the server.
                    try await Task.sleep(for: waitOut)
                    try await connection.query("ROLLBACK", logger: .quiet)
                }
            }
            #expect(try await store.groups(of: ann.user.id).isEmpty)
        }
    }

    /// At an everyday rate a message that would commit alone waits for companions, which share
    /// its transaction. (When the wait ends, a companion in or the linger's end, is the state
    /// machine's, tested in `MessageBatchStateMachineTests` with time given.)
    @Test(.timeLimit(.minutes(1))) func atEverydayRatesTheNextMessageSharesTheTransaction() async throws {
        let url = try PostgresConnectionURL(try await TestPostgres.freshDatabaseURL())
        // Long, so that on a loaded machine the companion still comes within it; each wait below
        // runs to its end, since at these gaps another companion is always due.
        let linger = Duration.seconds(1)
        let store = PostgresStore(url: url, maximumConnections: 4, messageLinger: linger, logger: .quiet)
        try await Self.withRunning([store]) {
            let (ann, bob) = (Fixture.user(name: "Ann"), Fixture.user(name: "Bob"))
            for user in [ann, bob] { try await store.insertUser(user) }
            // Messages in pairs: the average gap falls below the linger.
            for _ in 0..<6 {
                async let first: Void = store.insertMessage(Fixture.message(from: ann.user.id, to: bob.user.id))
                async let second: Void = store.insertMessage(Fixture.message(from: bob.user.id, to: ann.user.id))
                _ = try await (first, second)
            }
            let (lone, companion) = (
                Fixture.message(from: ann.user.id, to: bob.user.id, text: "lone"),
                Fixture.message(from: bob.user.id, to: ann.user.id, text: "companion")
            )
            let clock = ContinuousClock()
            let started = clock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await store.insertMessage(lone) }
                // The arrival spacing is what is under test, so this one is a sleep.
                try await Task.sleep(for: .milliseconds(5))
                group.addTask { try await store.insertMessage(companion) }
                try await group.waitForAll()
            }
            #expect(clock.now - started < linger * 3, "the wait outlasted its linger")
            let transactions = try await store.client.query(
                "SELECT count(DISTINCT xmin::text) FROM messages WHERE text IN ('lone', 'companion')")
            for try await count in transactions.decode(Int.self) {
                #expect(count == 1, "\(count) transactions for two messages")
            }
        }
    }

    /// A commit the database refuses fails its senders: success is reported only once a batch is
    /// committed. (A deferred trigger stands in for the refusal PostgreSQL gives when its
    /// notification queue is full: both come at the commit, after the statement that stored the
    /// rows has finished; a batch run as one statement in an implicit transaction would report
    /// success before it.)
    @Test func aMessageRefusedAtCommitFailsAloneAndIsNotStored() async throws {
        let url = try PostgresConnectionURL(try await TestPostgres.freshDatabaseURL())
        let store = PostgresStore(url: url, maximumConnections: 4, logger: .quiet)
        try await Self.withRunning([store]) {
            try await store.client.query(
                """
                CREATE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.text = 'refused at commit' THEN
                        RAISE EXCEPTION 'refused at commit' USING ERRCODE = '23514';
                    END IF;
                    RETURN NULL;
                END $$
                """)
            try await store.client.query(
                """
                CREATE CONSTRAINT TRIGGER refuse_at_commit AFTER INSERT ON messages
                DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_at_commit()
                """)
            let (ann, bob) = (Fixture.user(name: "Ann"), Fixture.user(name: "Bob"))
            for user in [ann, bob] { try await store.insertUser(user) }
            let refused = Fixture.message(from: ann.user.id, to: bob.user.id, text: "refused at commit")
            await #expect(throws: (any Error).self) { try await store.insertMessage(refused) }
            #expect(try await store.message(id: refused.id) == nil)
            // Among others in one batch, it fails alone.
            let others = (0..<40).map { _ in Fixture.message(from: ann.user.id, to: bob.user.id) }
            let failed = try await withThrowingTaskGroup(of: ObjectID?.self) { group in
                for message in others + [refused] {
                    group.addTask {
                        do {
                            try await store.insertMessage(message)
                            return nil
                        } catch {
                            return message.id
                        }
                    }
                }
                return try await group.reduce(into: [ObjectID]()) { if let id = $1 { $0.append(id) } }
            }
            #expect(failed == [refused.id])
            let page = try await store.conversation(ConversationQuery(user: ann.user.id, peer: bob.user.id, limit: 100))
            #expect(Set(page.map(\.id)) == Set(others.map(\.id)))
        }
    }

    /// A message whose transaction took its `seq` first but commits last must not be passed over
    /// by a copy reading a live source: the copy's bound waits for it, longer than the store's
    /// deadline for a call if need be (up to 30 s).
    @Test func aCopyBoundWaitsForMessagesStillBeingCommitted() async throws {
        let url = try PostgresConnectionURL(try await TestPostgres.freshDatabaseURL())
        let store = PostgresStore(url: url, maximumConnections: 4, operationTimeout: .seconds(2), logger: .quiet)
        try await Self.withRunning([store]) {
            let (ann, bob, cyd) = (Fixture.user(name: "Ann"), Fixture.user(name: "Bob"), Fixture.user(name: "Cyd"))
            for user in [ann, bob, cyd] { try await store.insertUser(user) }
            // Two conversations: within one, inserts queue on its summary row.
            let early = Fixture.message(from: ann.user.id, to: bob.user.id, text: "takes seq 1, commits last")
            let late = Fixture.message(from: cyd.user.id, to: ann.user.id, text: "takes seq 2, commits first")
            let (opened, open) = AsyncStream.makeStream(of: Void.self)
            let (released, release) = AsyncStream.makeStream(of: Void.self)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await store.client.withTransaction(logger: .quiet) { connection in
                        try await connection.query(
                            """
                            INSERT INTO messages (id, sender_id, receiver_id, text, created_at, updated_at)
                            VALUES (\(early.id.hexString), \(ann.user.id.hexString), \(bob.user.id.hexString),
                                    \(early.text), now(), now())
                            """,
                            logger: .quiet
                        )
                        open.yield()
                        for await _ in released { break }
                    }
                }
                for await _ in opened { break }
                try await store.insertMessage(late)
                // The newest visible message is `late`, but `early` (smaller seq) is in flight:
                // the bound must not be settled before `early` commits.
                let order = Mutex<[String]>([])
                async let bound = {
                    let id = try await store.settledLastMessageID()
                    order.withLock { $0.append("settled") }
                    return id
                }()
                // Time enough for a wrong early answer, and past the store's 2 s deadline.
                try await Task.sleep(for: .milliseconds(2500))
                order.withLock { $0.append("committing") }
                release.yield()
                #expect(try await bound == late.id)
                #expect(order.withLock { $0 } == ["committing", "settled"])
                let exported = try await store.exportMessages(after: nil, through: late.id, limit: 10)
                #expect(exported == [.valid(try #require(await store.message(id: early.id))), .valid(late)])
                try await group.waitForAll()
            }
        }
    }

    @Test func anUnreachableDatabaseFailsFastWithUnavailable() async throws {
        // Nothing listens on port 1: the pool keeps trying to connect; calls must not wait forever.
        let url = try PostgresConnectionURL("postgres://parley@127.0.0.1:1/none?sslmode=disable")
        let store = PostgresStore(url: url, maximumConnections: 2, operationTimeout: .seconds(1), logger: .quiet)
        try await Self.withRunning([store]) {
            let clock = ContinuousClock()
            let start = clock.now
            let error = await #expect(throws: StoreError.self) { try await store.user(id: ObjectID()) }
            #expect(
                error == .unavailable("The database did not answer in time")
                    || error == .unavailable("The database is unavailable"))
            // Without the deadline the call would wait for a connection forever. With it, the call
            // takes the 1 s timeout plus up to `abandonAfter` (1 s) for the driver to stop, and the
            // watchdog's checks are tasks on the shared pool: with the whole suite on two cores
            // they ran late enough for 5.8 s once, so the bound is ten seconds.
            #expect(start.duration(to: clock.now) < Self.failFastBound)
            await #expect(throws: (any Error).self) { try await store.checkReadiness() }
            // Messages keep the same bound in the writer: the ones writing a batch and the ones
            // queued behind them.
            let sendStart = clock.now
            let failures = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<10 {
                    group.addTask {
                        do {
                            try await store.insertMessage(Fixture.message(from: ObjectID(), to: ObjectID()))
                            return false
                        } catch let error as StoreError {
                            return error == .unavailable("The database did not answer in time")
                                || error == .unavailable("The database is unavailable")
                        }
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(failures == 10)
            #expect(sendStart.duration(to: clock.now) < Self.failFastBound)
        }
    }

    /// A query the caller stopped waiting for is cancelled by PostgreSQL (`statement_timeout`)
    /// rather than hold its connection until it ends by itself.
    @Test(.timeLimit(.minutes(1))) func aQueryNobodyWaitsForIsCancelledByTheDatabase() async throws {
        let url = try PostgresConnectionURL(try await TestPostgres.freshDatabaseURL())
        let store = PostgresStore(url: url, maximumConnections: 2, operationTimeout: .seconds(1), logger: .quiet)
        let checker = PostgresStore(url: url, maximumConnections: 2, logger: .quiet)
        try await Self.withRunning([store, checker]) {
            let clock = ContinuousClock()
            let start = clock.now
            await #expect(throws: StoreError.self) {
                try await store.perform { client in try await client.run("SELECT pg_sleep(30)", logger: .quiet) }
            }
            // Its deadline (1 s) and the second it is given to stop: then PostgreSQL ends it.
            while try await Self.count(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' "
                    + "AND query = 'SELECT pg_sleep(30)'", on: checker.client) > 0
            {
                guard start.duration(to: clock.now) < Self.failFastBound else {
                    Issue.record("the query still ran 10 s after it was sent")
                    return
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            // The connection serves the next call.
            try await store.checkReadiness()
        }
    }

    /// Migrations lift the limit for themselves (waiting for another instance's, building an
    /// index over a large table) and put it back after.
    @Test(.timeLimit(.minutes(1))) func migrationsMayRunLongerThanTheStatementTimeout() async throws {
        let url = try PostgresConnectionURL(try await Self.emptyDatabase())
        let store = PostgresStore(url: url, maximumConnections: 1, operationTimeout: .milliseconds(200), logger: .quiet)
        try await Self.withRunning([store]) {
            let slow = PostgresSchema.Migration(version: 1, name: "0001_slow.sql", sql: "SELECT pg_sleep(1.5);")
            let applied = try await PostgresMigrator(client: store.client, logger: .quiet).migrate([slow])
            #expect(applied == ["0001_slow.sql"])
            let timeouts = try await store.client.query("SHOW statement_timeout", logger: .quiet).decode(String.self)
            var shown: [String] = []
            for try await timeout in timeouts { shown.append(timeout) }
            #expect(shown == ["1200ms"])
        }
    }

    static func count(_ sql: String, on client: PostgresClient) async throws -> Int64 {
        let rows = try await client.query(PostgresQuery(unsafeSQL: sql), logger: .quiet)
        return try await rows.decode(Int64.self).first(where: { _ in true }) ?? 0
    }

    /// How long a call may take to fail while the database is unreachable, with a 1 s timeout
    /// (see ``anUnreachableDatabaseFailsFastWithUnavailable()``).
    static let failFastBound = Duration.seconds(10)

    /// Runs `body` while `holder` keeps the advisory locks `parley_store_messages` takes for the
    /// users `a` and `b` (migration 0009); they are released when `body` returns.
    static func whileConversationLocked(
        _ a: ObjectID, _ b: ObjectID, by holder: PostgresStore, _ body: () async throws -> Void
    ) async throws {
        let users = [a.hexString, b.hexString]
        let (held, hold) = AsyncStream.makeStream(of: Void.self)
        let (released, release) = AsyncStream.makeStream(of: Void.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await holder.client.withTransaction(logger: .quiet) { connection in
                    try await connection.run(
                        "SELECT parley_lock_users(\(users))", logger: .quiet)
                    hold.yield()
                    for await _ in released { break }
                }
            }
            for await _ in held { break }
            do {
                try await body()
            } catch {
                release.yield()
                throw error
            }
            release.yield()
            try await group.waitForAll()
        }
    }

    /// A batch that cannot get its conversation's lock in time is rolled back by the database,
    /// not left to commit after its senders were told it failed.
    @Test(.timeLimit(.minutes(1))) func aMessageThatCannotGetItsLockInTimeFailsAndIsNotStored() async throws {
        let url = try PostgresConnectionURL(try await TestPostgres.freshDatabaseURL())
        let store = PostgresStore(url: url, maximumConnections: 4, operationTimeout: .seconds(1), logger: .quiet)
        // Everything but the insert under test goes through a store with the default deadline, so a
        // slow moment of the machine elsewhere in the suite cannot fail the setup or the checks.
        let checker = PostgresStore(url: url, maximumConnections: 2, logger: .quiet)
        try await Self.withRunning([store, checker]) {
            let (ann, bob) = (Fixture.user(name: "Ann"), Fixture.user(name: "Bob"))
            for user in [ann, bob] { try await checker.insertUser(user) }
            let message = Fixture.message(from: ann.user.id, to: bob.user.id)
            // The lock is held through the checker: the store under test's short deadlines
            // would end the holder itself on a slow moment of the machine.
            try await Self.whileConversationLocked(ann.user.id, bob.user.id, by: checker) {
                let clock = ContinuousClock()
                let start = clock.now
                // Refused by the database's lock_timeout, or given up on by the server first when the
                // machine is slow: either way unavailable, and (below) not stored.
                let error = await #expect(throws: StoreError.self) {
                    try await store.insertMessage(message)
                }
                if case .unavailable? = error {} else { Issue.record("\(String(describing: error))") }
                #expect(start.duration(to: clock.now) < .seconds(5))
            }
            #expect(try await checker.message(id: message.id) == nil)
            try await checker.insertMessage(message)
            #expect(try await checker.message(id: message.id) != nil)
        }
    }

    /// A batch that got its connection late waits for its lock only as long as its deadline
    /// allows: were it to wait longer, the lock could come after its sender was told it failed,
    /// and the message would be stored anyway.
    @Test(.timeLimit(.minutes(1))) func aBatchThatGotItsConnectionLateIsNotStoredAfterItsDeadline() async throws {
        let url = try PostgresConnectionURL(try await TestPostgres.freshDatabaseURL())
        let store = PostgresStore(url: url, maximumConnections: 1, operationTimeout: .seconds(1), logger: .quiet)
        let checker = PostgresStore(url: url, maximumConnections: 2, logger: .quiet)
        try await Self.withRunning([store, checker]) {
            let (ann, bob) = (Fixture.user(name: "Ann"), Fixture.user(name: "Bob"))
            for user in [ann, bob] { try await checker.insertUser(user) }
            let late = Fixture.message(from: ann.user.id, to: bob.user.id)
            try await Self.whileConversationLocked(ann.user.id, bob.user.id, by: checker) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    // The store's only connection is busy for most of the insert's second. A sleep,
                    // because what is under test is a deadline on the wall clock.
                    group.addTask {
                        try await store.client.withConnection { _ in try await Task.sleep(for: .milliseconds(700)) }
                    }
                    await #expect(throws: StoreError.self) { try await store.insertMessage(late) }
                    try await group.waitForAll()
                }
                // The lock comes free just after the sender heard of the failure.
            }
            // The pool serves waiters in order: once this one is stored, the late batch has ended.
            let next = Fixture.message(from: ann.user.id, to: bob.user.id)
            try await store.insertMessage(next)
            #expect(try await checker.message(id: next.id) != nil)
            #expect(try await checker.message(id: late.id) == nil)
        }
    }

    /// The server's batches announce their messages themselves; a row inserted any other way
    /// (psql, another tool) is announced by the statement trigger, in `seq` order, once.
    @Test(.timeLimit(.minutes(1))) func messagesInsertedOutsideTheServerAreAnnouncedOnce() async throws {
        let url = try PostgresConnectionURL(try await TestPostgres.freshDatabaseURL())
        let store = PostgresStore(url: url, maximumConnections: 4, logger: .quiet)
        try await Self.withRunning([store]) {
            let (ann, bob) = (Fixture.user(name: "Ann"), Fixture.user(name: "Bob"))
            for user in [ann, bob] { try await store.insertUser(user) }
            let byServer = Fixture.message(
                from: ann.user.id, to: bob.user.id, text: nil, image: "https://x.example/a.png")
            let first = Fixture.message(from: bob.user.id, to: ann.user.id, text: "first \"quoted\"")
            let second = Fixture.message(from: ann.user.id, to: bob.user.id, text: "second")
            let received = try await store.client.withConnection { connection in
                try await connection.listen(on: PostgresEventBus.channel) { notifications in
                    try await store.insertMessage(byServer)
                    try await store.client.query(
                        """
                        INSERT INTO messages (id, sender_id, receiver_id, text, created_at, updated_at)
                        VALUES (\(first.id.hexString), \(first.senderID.hexString), \(first.receiverID.hexString),
                                \(first.text), \(first.createdAt.iso8601)::timestamptz, \(first.updatedAt.iso8601)::timestamptz),
                               (\(second.id.hexString), \(second.senderID.hexString), \(second.receiverID.hexString),
                                \(second.text), \(second.createdAt.iso8601)::timestamptz, \(second.updatedAt.iso8601)::timestamptz)
                        """,
                        logger: .quiet
                    )
                    var events: [ClusterEvent] = []
                    for try await notification in notifications {
                        events.append(try #require(ClusterEvent(encoded: notification.payload)))
                        if events.count == 3 { break }
                    }
                    return events
                }
            }
            // The media id is the server's own: events do not carry it.
            var announced = byServer
            announced.imageMediaID = nil
            #expect(received == [.messageCreated(announced), .messageCreated(first), .messageCreated(second)])
            let stored = try #require(await store.message(id: byServer.id))
            #expect(stored.image == byServer.image && stored.text == nil)
        }
    }
}
