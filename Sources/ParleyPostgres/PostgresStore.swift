import Logging
import ParleyDomain
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
    /// Enforces ``operationTimeout`` on every operation, with one timer for all.
    let deadlines = DeadlineWatchdog()
    let eventBus: PostgresEventBus
    let presenceBackend: PostgresPresence
    let messageWriter: PostgresMessageWriter

    public var bus: any ClusterBus { eventBus }
    public var presence: any PresenceBackend { presenceBackend }
    public var supportsClustering: Bool { true }

    /// - Parameters:
    ///   - maximumConnections: connections for queries; the bus's LISTEN connection is one more.
    ///   - heartbeat: how often this instance proves it is alive.
    ///   - presenceTTL: how long an instance may miss heartbeats before the others take its users
    ///     offline.
    ///   - messageLinger: longest a message waits for another to share its transaction when
    ///     messages arrive faster than one per `messageLinger` and would otherwise each commit
    ///     alone; zero never waits (see `MessageBatchStateMachine`).
    public init(
        url: PostgresConnectionURL,
        maximumConnections: Int = 20,
        operationTimeout: Duration = .seconds(10),
        heartbeat: Duration = .seconds(5),
        presenceTTL: Duration = .seconds(15),
        messageLinger: Duration = .zero,
        logger: Logger
    ) {
        var configuration = url.configuration
        // One more for the LISTEN connection, which the bus holds for good: with a pool of one,
        // nothing else could ever run.
        configuration.options.maximumConnections = maximumConnections + 1
        configuration.options.connectTimeout = .seconds(5)
        // The pool arms timers each time a connection goes back idle (a keep-alive, and an idle
        // timeout above `minimumConnections`) and cancels them at its next use: at everyday rates
        // that was a third of the server's thread switches per message. So the pool sends no
        // keep-alive queries, and the first two connections (the listener's and the one most
        // queries use) never time out; the others still close after a minute idle. What the
        // pool's keep-alives did for a connection idle behind a firewall or NAT that drops
        // silent connections, PostgreSQL's TCP keep-alives do, with no timer here: the server's
        // kernel probes an idle connection after a minute, which keeps it open through such a
        // middlebox, and closes it when the probes go unanswered
        // (docs/benchmarks.md#everyday-load-cpu-per-message, docs/stores.md).
        configuration.options.minimumConnections = min(2, maximumConnections + 1)
        configuration.options.keepAliveBehavior = nil
        configuration.options.additionalStartupParameters += [
            ("tcp_keepalives_idle", "60"), ("tcp_keepalives_interval", "10"), ("tcp_keepalives_count", "3"),
        ]
        // Parley's queries are short; the planner's estimate for some (the sidebar's per-group
        // unread counts) passes jit_above_cost, and compiling them took 177 ms of a 200 ms
        // answer that takes 9 ms without (docs/benchmarks.md#groups).
        configuration.options.additionalStartupParameters.append(("jit", "off"))
        // A call stops waiting for its query `abandonAfter` past its deadline, but the query went
        // on (postgres-nio cancels nothing on the server), its connection busy until it ended: one
        // waiting on a lock held elsewhere for an hour held a connection that long. PostgreSQL now
        // cancels a statement once nobody can be waiting for it. Migrations and the end of an
        // import, which may take longer, lift the limit for themselves.
        configuration.options.additionalStartupParameters.append(
            ("statement_timeout", String(Self.statementTimeout(operationTimeout: operationTimeout).milliseconds)))
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        self.client = client
        self.displayName = url.displayName
        self.logger = logger
        self.operationTimeout = operationTimeout
        self.messageWriter = PostgresMessageWriter(
            client: client, timeout: operationTimeout, linger: messageLinger, deadlines: deadlines, logger: logger)
        self.eventBus = PostgresEventBus(
            client: client, timeout: operationTimeout, deadlines: deadlines, logger: logger)
        let schemaReady = ReadinessGate()
        self.schemaReady = schemaReady
        self.presenceBackend = PostgresPresence(
            client: client,
            heartbeat: heartbeat,
            ttl: presenceTTL,
            timeout: operationTimeout,
            schemaReady: schemaReady,
            logger: logger
        )
    }

    /// PostgreSQL's `statement_timeout` for the store's connections: the longest a call waits
    /// for a statement, its deadline and the time it is given to stop after it.
    static func statementTimeout(operationTimeout: Duration) -> Duration {
        operationTimeout + DeadlineWatchdog().abandonAfter
    }

    /// The connection pool runs as a service of its own, before the store, so that it is still
    /// open while the store shuts down.
    public var supportingServices: [any Service] { [client] }

    /// Migrating needs only the pool (no LISTEN, no presence).
    public var servicesForMigration: [any Service] { [client] }

    /// Opened by ``migrate()``: presence and heartbeats need the schema.
    let schemaReady: ReadinessGate

    /// Runs the LISTEN connection and the presence heartbeat; at graceful shutdown, stops the
    /// heartbeat (so that it cannot bring this instance back), takes this instance out of
    /// presence, then stops listening.
    public func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask {
                await self.schemaReady.wait()
                await self.eventBus.listen()
            }
            await withDiscardingTaskGroup { heartbeat in
                heartbeat.addTask {
                    await self.presenceBackend.maintain { [eventBus = self.eventBus] in eventBus.resynchronize() }
                }
                try? await gracefulShutdown()
                heartbeat.cancelAll()
            }
            await presenceBackend.leave()
            group.cancelAll()
        }
    }

    public func migrate() async throws {
        try await PostgresMigrator(client: client, logger: logger).migrate()
        // After an interrupted `parley copy` into this database (see beginImport()).
        try await Self.restoreMessageIndexes(client, logger: logger)
        schemaReady.open()
    }

    public func checkReadiness() async throws {
        try await perform { client in
            try await client.run("SELECT 1", logger: self.logger)
        }
    }

    /// Runs one store operation within ``operationTimeout`` and maps driver errors to
    /// ``StoreError``.
    @discardableResult
    func perform<Result: Sendable>(
        within timeout: Duration? = nil,
        _ operation: @escaping @Sendable (PostgresClient) async throws -> Result
    ) async throws -> Result {
        do {
            return try await deadlines.run(within: timeout ?? operationTimeout) { try await operation(self.client) }
        } catch {
            throw Self.storeError(from: error)
        }
    }

    /// The error beneath `error`: the one a failed transaction wraps (of its begin, body or
    /// commit), or `error` itself.
    static func cause(of error: any Error) -> any Error {
        guard let transaction = error as? PostgresTransactionError else { return error }
        return transaction.beginError ?? transaction.closureError ?? transaction.commitError ?? error
    }

    /// A driver error as the ``StoreError`` it means, or as it is.
    static func storeError(from error: any Error) -> any Error {
        switch error {
        case let error as PSQLError:
            return storeError(error) ?? error
        case is PostgresTransactionError:
            // A lost connection inside a transaction surfaces here, wrapping the driver's error.
            let cause = cause(of: error)
            return (cause as? PSQLError).flatMap(storeError) ?? cause
        case is Deadline.Exceeded:
            return StoreError.unavailable("The database did not answer in time")
        default:
            return error
        }
    }

    static func storeError(_ error: PSQLError) -> StoreError? {
        switch error.code {
        case .server:
            let state = error.serverInfo?[.sqlState]
            if state == "23505", error.serverInfo?[.constraintName] == "users_email_key" {
                return .duplicateEmail
            }
            if state == "23503" {
                return .unknownUser
            }
            // Class 08 (connection exception), 57P (operator intervention: shutdown), 53 (resources),
            // 55P03 (a lock not granted within lock_timeout: the message writer's bound).
            if let state, state.hasPrefix("08") || state.hasPrefix("57P") || state.hasPrefix("53") || state == "55P03" {
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
