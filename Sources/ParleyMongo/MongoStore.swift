// The MongoDB trait builds this module (swift build --traits MongoDB); without it, it is empty.
#if MongoDB
import Logging
import ParleyChat
import ServiceLifecycle

/// The MongoDB store: the Node app's `users` and `messages` collections, read and written as its
/// Mongoose models shape them, so a team can point Parley at the database it already has.
///
/// Realtime events stay in this process: one instance per database (MongoDB has no LISTEN/NOTIFY;
/// see README.md).
public final class MongoStore: ChatStore {
    let pool: MongoConnectionPool
    let logger: Logger
    let events = InProcessBus()
    public let presence: any PresenceBackend

    public var bus: any ClusterBus { events }
    public var supportsClustering: Bool { false }

    /// - Parameters:
    ///   - size: driver threads, and connections per server.
    public init(_ connectionString: MongoConnectionString, size: Int = 10, logger: Logger) throws(MongoError) {
        self.pool = try MongoConnectionPool(connectionString, size: size)
        self.logger = logger
        self.presence = InProcessPresence(bus: events)
    }

    public var displayName: String { "MongoDB at \(pool.connectionString.displayName)" }

    public func run() async throws {
        // Cancellation (a command that is done with its services) ends the wait just as well.
        try? await gracefulShutdown()
        await pool.shutdown()
    }

    /// Creates the indexes that are missing; Parley needs no other schema.
    public func migrate() async throws {
        try await call { connection in
            for collection in [MongoDocuments.users, MongoDocuments.messages] {
                _ = try connection.runCommand(MongoQueries.createIndexes(on: collection))
            }
        }
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
