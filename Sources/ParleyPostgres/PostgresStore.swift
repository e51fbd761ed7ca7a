import Logging
import ParleyChat
import PostgresNIO
import ServiceLifecycle

/// The production store: PostgreSQL through a postgres-nio connection pool.
///
/// Every operation has a deadline (``operationTimeout``): while the database is down the pool
/// waits to reconnect, and a request must fail with 503 rather than hang.
public final class PostgresStore: ChatStore {
    public let displayName: String
    let client: PostgresClient
    let logger: Logger
    /// Longest a single store operation may take, waiting for a connection included.
    public let operationTimeout: Duration

    public init(
        url: PostgresConnectionURL, maximumConnections: Int = 20, operationTimeout: Duration = .seconds(10),
        logger: Logger
    ) {
        var configuration = url.configuration
        configuration.options.maximumConnections = maximumConnections
        configuration.options.connectTimeout = .seconds(5)
        self.client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.displayName = url.displayName
        self.logger = logger
        self.operationTimeout = operationTimeout
    }

    public func run() async throws {
        await client.run()
    }

    public func migrate() async throws {
        try await PostgresMigrator(client: client, logger: logger).migrate()
    }

    public func checkReadiness() async throws {
        try await perform { client in
            try await client.query("SELECT 1", logger: self.logger)
        }
    }

    /// Runs one store operation within ``operationTimeout`` and maps driver errors to
    /// ``StoreError``.
    @discardableResult
    func perform<Result: Sendable>(
        _ operation: @escaping @Sendable (PostgresClient) async throws -> Result
    ) async throws -> Result {
        do {
            return try await Deadline.run(within: operationTimeout) { try await operation(self.client) }
        } catch let error as PSQLError {
            throw Self.storeError(error) ?? error
        } catch is Deadline.Exceeded {
            throw StoreError.unavailable("The database did not answer in time")
        }
    }

    static func storeError(_ error: PSQLError) -> StoreError? {
        switch error.code {
        case .server:
            let state = error.serverInfo?[.sqlState]
            if state == "23505", error.serverInfo?[.constraintName] == "users_email_key" {
                return .duplicateEmail
            }
            // Class 08 (connection exception), 57P (operator intervention: shutdown), 53 (resources).
            if let state, state.hasPrefix("08") || state.hasPrefix("57P") || state.hasPrefix("53") {
                return .unavailable("The database is unavailable")
            }
            return nil
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed, .uncleanShutdown,
            .sslUnsupported, .failedToAddSSLHandler:
            return .unavailable("The database is unavailable")
        default:
            return nil
        }
    }
}
