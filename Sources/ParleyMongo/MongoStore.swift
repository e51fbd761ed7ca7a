// The MongoDB trait builds this module (swift build --traits MongoDB); without it, it is empty.
#if MongoDB
import Logging
import ParleyDomain
import ServiceLifecycle

/// The MongoDB store: the Node app's `users` and `messages` collections, read and written as its
/// Mongoose models shape them, so a team can point Parley at the database it already has.
///
/// On a replica set or a sharded cluster, instances share realtime events through a change
/// stream (``MongoEventBus``) and presence through the database (``MongoPresence``); on a
/// standalone server there is one instance per database and events stay in the process. Which one
/// is decided by ``migrate()``, which every server runs before it serves.
public final class MongoStore: ChatStore {
    let pool: MongoConnectionPool
    let logger: Logger
    let eventBus: MongoEventBus
    let presenceBackend: MongoPresence
    private let clusterMode: MongoClusterMode
    /// New messages are stored and announced one at a time, so that events leave in the order
    /// messages were stored (what SQLite's write queue and PostgreSQL's trigger give).
    let messageOrder = OrderedSection()
    private let decisions: AsyncStream<Bool>
    private let decisionInput: AsyncStream<Bool>.Continuation

    public var bus: any ClusterBus { eventBus }
    public var presence: any PresenceBackend { presenceBackend }
    public var supportsClustering: Bool { eventBus.isShared }

    /// - Parameters:
    ///   - size: driver threads, and connections per server.
    ///   - cluster: whether to share events and presence with other instances.
    ///   - heartbeat: how often this instance proves it is alive (shared mode).
    ///   - presenceTTL: how long an instance may miss heartbeats before the others take its users
    ///     offline (shared mode).
    public init(
        _ connectionString: MongoConnectionString,
        size: Int = 10,
        cluster: MongoClusterMode = .auto,
        heartbeat: Duration = .seconds(5),
        presenceTTL: Duration = .seconds(15),
        logger: Logger
    ) throws(MongoError) {
        self.pool = try MongoConnectionPool(connectionString, size: size)
        self.logger = logger
        self.clusterMode = cluster
        self.eventBus = MongoEventBus(pool: pool, logger: logger)
        self.presenceBackend = MongoPresence(
            pool: pool, bus: eventBus, heartbeat: heartbeat, ttl: presenceTTL, logger: logger)
        (decisions, decisionInput) = AsyncStream.makeStream(of: Bool.self, bufferingPolicy: .bufferingNewest(1))
    }

    public var displayName: String { "MongoDB at \(pool.connectionString.displayName)" }

    /// Runs the change stream and the presence heartbeat when instances share events; at graceful
    /// shutdown takes this instance out of presence, then closes the connections.
    public func run() async throws {
        var shared = false
        for await decision in decisions.cancelOnGracefulShutdown() {
            shared = decision
            break
        }
        if shared, !Task.isCancelled, !Task.isShuttingDownGracefully {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.eventBus.listen() }
                await withDiscardingTaskGroup { heartbeat in
                    heartbeat.addTask { await self.presenceBackend.maintain { self.eventBus.resynchronize() } }
                    try? await gracefulShutdown()
                    heartbeat.cancelAll()
                }
                // The heartbeat has stopped, so it cannot bring this instance back; the stream
                // still runs while this instance's users go offline.
                await self.presenceBackend.leave()
                group.cancelAll()
            }
        } else {
            // Cancellation (a command that is done with its services) ends the wait just as well.
            try? await gracefulShutdown()
        }
        await pool.shutdown()
    }

    /// Creates the indexes that are missing (Parley needs no other schema) and finds out whether
    /// instances can share events.
    public func migrate() async throws {
        let logger = self.logger
        let deployment = try await call { connection in
            for (name, command) in MongoQueries.createIndexCommands {
                do {
                    _ = try connection.runCommand(command)
                } catch let error as MongoError where [85, 86, 11000].contains(error.code) {
                    // IndexOptionsConflict, IndexKeySpecsConflict, duplicates: data or an index
                    // another application made. Parley works without it; say so loudly.
                    logger.error(
                        "MongoDB index could not be created; fix the data or the index and restart",
                        metadata: ["index": "\(name)", "error": "\(error)"])
                }
            }
            return try MongoDeployment.detect(connection)
        }
        let shared = clusterMode == .on || (clusterMode == .auto && deployment.supportsChangeStreams)
        if shared {
            // The stream opens and this instance joins presence before anything is published.
            try await eventBus.prepare()
            try await presenceBackend.start()
            logger.notice(
                "MongoDB: instances share realtime events and presence through a change stream",
                metadata: ["deployment": "\(deployment)"])
            eventBus.share()
            // Presence registered so far was this process's alone: register it in the database.
            eventBus.resynchronize()
        } else {
            logger.notice(
                "MongoDB: single instance, realtime events stay in this process (change streams need a replica set)",
                metadata: ["deployment": "\(deployment)"])
        }
        decisionInput.yield(shared)
        decisionInput.finish()
    }

    public func checkReadiness() async throws {
        try await call { connection in _ = try connection.runCommand(["ping": 1]) }
    }

    /// Runs `body` on a driver thread, and reports an unreachable server as
    /// ``StoreError/unavailable(_:)``.
    func call<Result: Sendable>(_ body: @escaping @Sendable (MongoConnection) throws -> Result) async throws -> Result {
        do {
            return try await pool.withConnection(body)
        } catch let error as MongoError where error.isUnavailable {
            logger.warning("MongoDB is unavailable", metadata: ["error": "\(error)"])
            throw StoreError.unavailable("The database is unavailable")
        }
    }
}
#endif
