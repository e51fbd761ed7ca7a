import Logging
import ParleyDomain
import PostgresNIO
import Synchronization

/// Presence shared by every instance on one database (tables `parley_instances` and
/// `parley_presence`; the SQL functions announce online/offline exactly once per transition).
///
/// Each instance heartbeats; every instance also removes instances whose heartbeat is older than
/// the TTL, so the users of one that died go offline within about TTL + one heartbeat. At
/// shutdown an instance removes itself, and its users go offline at once.
final class PostgresPresence: PresenceBackend {
    let instanceID: String
    private let client: PostgresClient
    private let heartbeat: Duration
    private let ttl: Duration
    private let timeout: Duration
    private let schemaReady: ReadinessGate
    private let logger: Logger
    /// The incarnation of this instance's row in `parley_instances`, once it joined.
    private let incarnation = Mutex<Int64?>(nil)

    init(
        client: PostgresClient,
        heartbeat: Duration,
        ttl: Duration,
        timeout: Duration,
        schemaReady: ReadinessGate,
        logger: Logger
    ) {
        self.instanceID = ObjectID().hexString
        self.client = client
        self.heartbeat = heartbeat
        self.ttl = ttl
        self.timeout = timeout
        self.schemaReady = schemaReady
        self.logger = logger
    }

    func register(_ user: ObjectID) async throws {
        try await call { client, logger, instance in
            try await client.run("SELECT parley_presence_register(\(user.hexString), \(instance))", logger: logger)
        }
    }

    func unregister(_ user: ObjectID) async throws {
        try await call { client, logger, instance in
            try await client.run("SELECT parley_presence_unregister(\(user.hexString), \(instance))", logger: logger)
        }
    }

    func onlineUsers() async throws -> Set<ObjectID> {
        let ttlSeconds = Double(ttl.components.seconds) + Double(ttl.components.attoseconds) / 1e18
        return try await call { client, logger, _ in
            let rows = try await client.query(
                """
                SELECT DISTINCT p.user_id FROM parley_presence p
                JOIN parley_instances i ON i.id = p.instance_id
                WHERE i.heartbeat_at > now() - make_interval(secs => \(ttlSeconds))
                """,
                logger: logger
            )
            var users = Set<ObjectID>()
            for try await id in rows.decode(String.self) {
                if let user = ObjectID(id) { users.insert(user) }
            }
            return users
        }
    }

    /// Heartbeats and reaps dead instances until cancelled; then removes this instance.
    /// - Parameter onForgotten: called when this instance finds it was removed by the others
    ///   (it stopped heartbeating for a while): its users must be registered again.
    func maintain(onForgotten: @escaping @Sendable () -> Void) async {
        await schemaReady.wait()
        let ttlSeconds = Double(ttl.components.seconds) + Double(ttl.components.attoseconds) / 1e18
        // Within the store's timeout, and within what the TTL leaves after a heartbeat's wait:
        // reaping heartbeats for this instance between steps, but its next beat waits for it.
        let budgetMilliseconds = max(10, Int(min(timeout, ttl - heartbeat) / .milliseconds(2)))
        while !Task.isCancelled {
            do {
                // Joins first: the row a registration may have inserted already, or its own. A
                // first heartbeat that found no row would take the instance for removed.
                if incarnation.withLock({ $0 == nil }) {
                    let joined = try await call(beat: true) { client, logger, instance -> Int64? in
                        let rows = try await client.query(
                            """
                            INSERT INTO parley_instances (id, heartbeat_at) VALUES (\(instance), now())
                            ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()
                            RETURNING incarnation
                            """,
                            logger: logger
                        )
                        for try await incarnation in rows.decode(Int64.self) { return incarnation }
                        return nil
                    }
                    incarnation.withLock { $0 = joined }
                }
                let row = try await call(beat: true) { client, logger, instance -> Int64? in
                    let rows = try await client.query(
                        """
                        UPDATE parley_instances SET heartbeat_at = now()
                        WHERE id = \(instance) AND NOT removing RETURNING incarnation
                        """,
                        logger: logger
                    )
                    for try await incarnation in rows.decode(Int64.self) { return incarnation }
                    return nil
                }
                // Its row is the one it joined, not one a registration inserted after the others
                // removed it (migration 0014).
                let alive = incarnation.withLock { known in row != nil && known == row }
                if !alive {
                    // Removed, or being removed, by the others: what is left of the removal is
                    // finished first, so that it cannot take the users registered again.
                    let joined = try await call(beat: true) { client, logger, instance -> Int64? in
                        try await client.run("CALL parley_instance_remove_committed(\(instance))", logger: logger)
                        let rows = try await client.query(
                            """
                            INSERT INTO parley_instances (id, heartbeat_at) VALUES (\(instance), now())
                            ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), removing = false
                            RETURNING incarnation
                            """,
                            logger: logger
                        )
                        for try await incarnation in rows.decode(Int64.self) { return incarnation }
                        return nil
                    }
                    incarnation.withLock { $0 = joined }
                    onForgotten()
                }
                let reaped = try await call(beat: true) { client, logger, instance in
                    // Old changes kept for recovery (migration 0009) are forgotten on the same
                    // beat. A dead instance is removed a few hundred users per transaction
                    // (migration 0014), for at most half of the store's timeout or of the TTL
                    // less a heartbeat; a large one over several beats.
                    let rows = try await client.query(
                        """
                        CALL parley_instances_reap_committed(
                            \(instance), make_interval(secs => \(ttlSeconds)), \(budgetMilliseconds), NULL
                        )
                        """,
                        logger: logger
                    )
                    for try await count in rows.decode(Int.self) { return count }
                    return 0
                }
                if reaped > 0 {
                    logger.notice("Removed instances that stopped heartbeating", metadata: ["count": "\(reaped)"])
                }
            } catch {
                logger.warning("Presence heartbeat failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: heartbeat)
        }
    }

    /// Removes this instance; its users go offline unless connected elsewhere.
    func leave() async {
        do {
            try await call { client, logger, instance in
                try await client.run("CALL parley_instance_remove_committed(\(instance))", logger: logger)
            }
        } catch {
            logger.warning("Could not remove this instance's presence", metadata: ["error": "\(error)"])
        }
    }

    /// - Parameter beat: a heartbeat's statement: waits for it to stop after its deadline, so that
    ///   a stuck database does not collect one more stuck heartbeat, holding a pool connection,
    ///   every beat (see `Deadline.run`).
    @discardableResult
    private func call<Result: Sendable>(
        beat: Bool = false,
        _ body: @escaping @Sendable (PostgresClient, Logger, String) async throws -> Result
    ) async throws -> Result {
        await schemaReady.wait()
        return try await Deadline.run(within: timeout, waitingForItToStop: beat) { [client, logger, instanceID] in
            try await body(client, logger, instanceID)
        }
    }
}
