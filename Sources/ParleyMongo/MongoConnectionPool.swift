// The MongoDB trait builds this module (swift build --traits MongoDB); without it, it is empty.
#if MongoDB
import CMongoC
import NIOPosix

/// The driver's client pool and the threads that use it.
///
/// Every libmongoc call blocks, so each runs on one of this pool's own threads (never on an event
/// loop), with a client popped from `mongoc_client_pool_t` for that thread alone: a driver client
/// is not thread-safe, the pool is. There are as many clients as threads (plus one for the
/// long-running change stream, on a thread of its own), so a thread never waits for a client.
public final class MongoConnectionPool: Sendable {
    private let pool: DriverPool
    private let threads: NIOThreadPool
    /// For ``onDedicatedThread(_:)``: calls that wait on the server (a change stream's reads) do
    /// not hold one of the request threads.
    private let dedicatedThread: NIOThreadPool
    public let connectionString: MongoConnectionString

    /// - Parameter size: threads, and at most as many connections per server.
    public init(_ connectionString: MongoConnectionString, size: Int, appName: String = "parley") throws(MongoError) {
        let uri = try connectionString.makeURI()
        defer { mongoc_uri_destroy(uri) }
        var error = bson_error_t()
        guard let pool = mongoc_client_pool_new_with_error(uri, &error) else { throw MongoError(&error) }
        mongoc_client_pool_set_error_api(pool, 2)
        mongoc_client_pool_max_size(pool, UInt32(size + 1))
        mongoc_client_pool_set_appname(pool, appName)
        self.pool = DriverPool(pointer: pool)
        self.connectionString = connectionString
        self.threads = NIOThreadPool(numberOfThreads: size)
        self.dedicatedThread = NIOThreadPool(numberOfThreads: 1)
        threads.start()
        dedicatedThread.start()
    }

    /// Runs `body` on a pool thread with a client of its own.
    public func withConnection<Result: Sendable>(
        _ body: @escaping @Sendable (MongoConnection) throws -> Result
    ) async throws -> Result {
        try await threads.runIfActive {
            let client = try self.popClient()
            defer { self.pushClient(client) }
            return try body(MongoConnection(client: client, database: self.connectionString.database))
        }
    }

    /// Runs `body` on the dedicated thread without popping a client, for objects that hold one
    /// of their own (``MongoChangeStream``).
    func onDedicatedThread<Result: Sendable>(_ body: @escaping @Sendable () throws -> Result) async throws -> Result {
        try await dedicatedThread.runIfActive(body)
    }

    /// A client for the caller alone, until ``pushClient(_:)``.
    func popClient() throws -> OpaquePointer {
        guard let client = mongoc_client_pool_pop(pool.pointer) else {
            throw MongoError(domain: MONGOC_ERROR_CLIENT.rawValue, code: 0, message: "no client available")
        }
        return client
    }

    func pushClient(_ client: OpaquePointer) {
        mongoc_client_pool_push(pool.pointer, client)
    }

    /// Lets calls in progress finish, then closes every connection. Nothing may use the pool after.
    public func shutdown() async {
        try? await threads.shutdownGracefully()
        try? await dedicatedThread.shutdownGracefully()
        mongoc_client_pool_destroy(pool.pointer)
    }
}

/// `mongoc_client_pool_t` is documented thread-safe.
private struct DriverPool: @unchecked Sendable {
    let pointer: OpaquePointer
}
#endif
