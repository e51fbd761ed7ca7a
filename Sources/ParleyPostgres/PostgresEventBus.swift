import EventLoopExecutor
import Logging
import ParleyDomain
import PostgresNIO

/// The cluster bus over LISTEN/NOTIFY on channel `parley_events`.
///
/// One connection listens for the life of the store; when it drops (a database restart, a
/// network cut) the bus reconnects with backoff, listens again, logs it and tells subscribers
/// to resynchronise (notifications sent while nobody listened are gone). Payloads too large for
/// a notification are read back from `parley_event_spill` before the next one is handled, so
/// order is kept; one that cannot be read is lost like those of a lost connection, and
/// subscribers are told to resynchronise in the same way.
final class PostgresEventBus: ClusterBus {
    static let channel = "parley_events"

    private let client: PostgresClient
    private let logger: Logger
    private let fanOut = BusFanOut()
    private let timeout: Duration
    private let deadlines: DeadlineWatchdog

    init(client: PostgresClient, timeout: Duration, deadlines: DeadlineWatchdog, logger: Logger) {
        self.client = client
        self.timeout = timeout
        self.deadlines = deadlines
        self.logger = logger
    }

    /// Changes to stored messages are kept for connection-state recovery and announced with
    /// their position (`parley_log_change`, migration 0009); the rest is only announced.
    func publish(_ event: ClusterEvent) async throws {
        let payload = event.encoded()
        let users = StoredEvent.changeHearers(of: event)?.map(\.hexString)
        let group = StoredEvent.isGroupEvent(event)
        _ = try await deadlines.run(within: timeout) { [client, logger] in
            if let users, group {
                try await client.run("SELECT parley_log_group_change(\(users), \(payload))", logger: logger)
            } else if let users {
                try await client.run("SELECT parley_log_change(\(users), \(payload))", logger: logger)
            } else {
                try await client.run("SELECT parley_publish(\(payload))", logger: logger)
            }
        }
    }

    func subscribe() -> AsyncStream<BusDelivery> {
        fanOut.subscribe()
    }

    func subscribe(_ handler: @escaping @Sendable (BusDelivery) -> Void) -> BusSubscription {
        fanOut.subscribe(handler)
    }

    /// Tells subscribers to reload what they derive from events (presence was rebuilt).
    func resynchronize() {
        fanOut.deliver(.resynchronized)
    }

    /// Listens until cancelled, reconnecting as needed.
    func listen() async {
        var backoff = Duration.milliseconds(100)
        var listenedBefore = false
        while !Task.isCancelled {
            do {
                try await client.withConnection { connection in
                    // Notifications are read on the connection's event loop, where they arrive.
                    try await withTaskExecutorPreference(EventLoopTaskExecutor(connection.eventLoop)) {
                        try await connection.listen(on: Self.channel) { notifications in
                            // Also the first time: anything read from the database before
                            // (a socket's recovery, as the server starts) may be ahead of it.
                            if listenedBefore {
                                self.logger.notice("Listening for cluster events again; resynchronising presence")
                            }
                            self.fanOut.deliver(.resynchronized)
                            listenedBefore = true
                            backoff = .milliseconds(100)
                            for try await notification in notifications {
                                await self.handle(notification.payload)
                            }
                        }
                    }
                }
            } catch {
                if Task.isCancelled { break }
                ChatMetrics.busReconnected()
                logger.warning(
                    "Cluster event connection lost; reconnecting",
                    metadata: ["error": "\(error)", "retry.in": "\(backoff)"]
                )
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
        fanOut.finish()
    }

    private func handle(_ payload: String) async {
        if payload.hasPrefix("{\"spill\":"), let id = Int64(payload.dropFirst(9).dropLast()) {
            if let spilled = await readSpill(id) {
                deliver(spilled)
            } else if !Task.isCancelled {
                // Lost, as events are with a lost connection: subscribers reload what they derive
                // from events, and sockets that may have missed a stored one recover it.
                logger.error("A large cluster event was lost; resynchronising", metadata: ["spill.id": "\(id)"])
                fanOut.deliver(.resynchronized)
            }
        } else {
            deliver(payload)
        }
    }

    private func deliver(_ payload: String) {
        guard let delivery = BusDelivery(encoded: payload) else {
            logger.debug("Ignoring an unknown cluster event", metadata: ["payload": "\(payload.prefix(200))"])
            return
        }
        fanOut.deliver(delivery)
    }

    /// How many times a spilled payload is read before it counts as lost.
    static let spillAttempts = 4

    /// The spilled payload `id`, read again after a failure (a timeout, the database busy):
    /// `nil` once it is gone or ``spillAttempts`` reads failed. Notifications wait meanwhile, so
    /// order is kept.
    private func readSpill(_ id: Int64) async -> String? {
        await Self.read(attempts: Self.spillAttempts, backoff: .milliseconds(100), logger: logger) {
            try await deadlines.run(within: timeout) { [client, logger] in
                let rows = try await client.query(
                    "SELECT payload FROM parley_event_spill WHERE id = \(id)", logger: logger)
                for try await payload in rows.decode(String.self) { return payload }
                return nil
            }
        }
    }

    /// What `read` returns, tried again after each failure (``retrying(attempts:until:backoff:maximumBackoff:onFailure:_:)``),
    /// `attempts` times in all: `nil` if every try failed or the task was cancelled.
    static func read(
        attempts: Int, backoff: Duration, logger: Logger, _ read: () async throws -> String?
    ) async -> String? {
        let payload = try? await retrying(
            attempts: attempts, backoff: backoff,
            onFailure: { error, attempt in
                logger.warning(
                    "Could not read a large cluster event",
                    metadata: ["error": "\(error)", "attempt": "\(attempt) of \(attempts)"])
            }, read)
        return payload ?? nil
    }
}
