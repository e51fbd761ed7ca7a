// The MongoDB trait builds this module (swift build --traits MongoDB); without it, it is empty.
#if MongoDB
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Logging
import ParleyDomain
import Synchronization

/// The cluster bus on MongoDB: events are inserted into the insert-only collection
/// `parley_events` and every instance reads them back through a change stream, in the order the
/// deployment applied them.
///
/// Until the store has found a deployment that supports change streams (and in single-instance
/// mode for good), events go straight to this process's subscribers, as with SQLite. When the
/// stream breaks, the bus reopens it after the last event it handled (with backoff), logs it and
/// tells subscribers to resynchronise; a stream that cannot resume starts afresh. Events are
/// deleted after ``retention`` by the instances themselves.
final class MongoEventBus: ClusterBus {
    static let collection = "parley_events"
    /// How long events are kept; a stream that was down for longer cannot resume.
    static let retention: Duration = .seconds(60)

    private let pool: MongoConnectionPool
    private let logger: Logger
    private let fanOut = BusFanOut()
    private let shared = Atomic<Bool>(false)

    init(pool: MongoConnectionPool, logger: Logger) {
        self.pool = pool
        self.logger = logger
    }

    /// Whether events go through the database (decided once the deployment is known).
    var isShared: Bool { shared.load(ordering: .acquiring) }

    func share() { shared.store(true, ordering: .releasing) }

    func publish(_ event: ClusterEvent) async throws {
        guard isShared else { return deliver(event) }
        let document = Self.document(for: event)
        try await pool.withConnection { connection in
            let result = try connection.insert(Self.collection, [document])
            if let error = result.writeErrors.first { throw error }
        }
    }

    /// Delivers in this process only (single-instance mode).
    func deliver(_ event: ClusterEvent) {
        fanOut.deliver(.event(event))
    }

    func subscribe() -> AsyncStream<BusDelivery> {
        fanOut.subscribe()
    }

    func subscribe(_ handler: @escaping @Sendable (BusDelivery) -> Void) -> BusSubscription {
        fanOut.subscribe(handler)
    }

    func resynchronize() {
        fanOut.deliver(.resynchronized)
    }

    static func document(for event: ClusterEvent) -> BSONDocument {
        let now = Timestamp.now()
        return [
            "_id": .objectID(ObjectID()), "event": .string(event.encoded()), "at": .date(now),
        ]
    }

    // MARK: Change stream

    /// Changes that carry events: inserts, and an invalidate (the collection was dropped), after
    /// which the stream must be opened afresh.
    static let pipeline: [BSONDocument] = [["$match": ["operationType": ["$in": ["insert", "invalidate"]]]]]
    /// How long a read of the stream waits on the server for a change.
    static let maximumWait: Duration = .seconds(1)

    private let stopping = Atomic<Bool>(false)
    /// A stream opened by ``prepare()``, so that no event published after the store decided to
    /// share is missed.
    private let prepared = Mutex<MongoChangeStream?>(nil)

    /// Opens the change stream now (before the server serves); ``listen()`` reads it.
    func prepare() async throws {
        let stream = try await pool.onDedicatedThread { [pool] in
            try MongoChangeStream(
                pool: pool, collection: Self.collection, pipeline: Self.pipeline, resumeAfter: nil,
                maximumWait: Self.maximumWait)
        }
        prepared.withLock { $0 = stream }
    }

    /// Reads the change stream until cancelled, reopening it as needed. The reading blocks, so it
    /// runs on the pool's dedicated thread and checks for cancellation between reads.
    func listen() async {
        await withTaskCancellationHandler {
            _ = try? await pool.onDedicatedThread { self.read() }
        } onCancel: {
            stopping.store(true, ordering: .releasing)
        }
        prepared.withLock { stream in
            stream?.close()
            stream = nil
        }
        fanOut.finish()
    }

    private var isStopping: Bool { stopping.load(ordering: .acquiring) }

    private func read() {
        var resumeToken: BSON?
        var backoff = Duration.milliseconds(100)
        var openedBefore = false
        while !isStopping {
            do {
                let stream =
                    try prepared.withLock { $0.take() }
                    ?? MongoChangeStream(
                        pool: pool, collection: Self.collection, pipeline: Self.pipeline, resumeAfter: resumeToken,
                        maximumWait: Self.maximumWait)
                defer { stream.close() }
                if openedBefore {
                    logger.notice("Reading cluster events again; resynchronising presence")
                    fanOut.deliver(.resynchronized)
                }
                openedBefore = true
                backoff = .milliseconds(100)
                var idle = Duration.milliseconds(10)
                while !isStopping {
                    let started = ContinuousClock.now
                    if let change = try stream.next() {
                        resumeToken = stream.resumeToken ?? change["_id"]
                        idle = .milliseconds(10)
                        if change["operationType"]?.stringValue == "invalidate" {
                            throw MongoError(domain: 0, code: 0, message: "the events collection was dropped")
                        }
                        handle(change["fullDocument"]?.documentValue?["event"]?.stringValue)
                    } else {
                        resumeToken = stream.resumeToken ?? resumeToken
                        // A server that answers at once instead of waiting for a change must not be
                        // read in a busy loop.
                        if ContinuousClock.now - started < .milliseconds(100) {
                            pause(idle)
                            idle = min(idle * 2, .milliseconds(100))
                        }
                    }
                }
            } catch {
                if isStopping { break }
                if let error = error as? MongoError, [136, 280, 286].contains(error.code) || error.domain == 0 {
                    // The stream cannot go on from where it was (history lost, invalidated).
                    logger.warning(
                        "Cluster events may have been missed; reading from now", metadata: ["error": "\(error)"])
                    resumeToken = nil
                } else {
                    logger.warning(
                        "Cluster event stream lost; reopening",
                        metadata: ["error": "\(error)", "retry.in": "\(backoff)"]
                    )
                }
                ChatMetrics.busReconnected()
                pause(backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
    }

    private func handle(_ payload: String?) {
        guard let payload, let event = ClusterEvent(encoded: payload) else {
            logger.debug("Ignoring an unknown cluster event", metadata: ["payload": "\(payload?.prefix(200) ?? "")"])
            return
        }
        fanOut.deliver(.event(event))
    }

    /// Sleeps this (dedicated) thread, waking early when the bus stops.
    private func pause(_ duration: Duration) {
        var left = duration.milliseconds
        while left > 0, !isStopping {
            let step = min(left, 50)
            usleep(UInt32(step * 1000))
            left -= step
        }
    }

    /// Deletes events older than ``retention`` (every instance does it; deleting twice is harmless).
    func clean() async throws {
        let cutoff = Timestamp.now().adding(milliseconds: -Self.retention.milliseconds)
        _ = try await pool.withConnection { connection in
            try connection.delete(Self.collection, filter: ["at": ["$lt": .date(cutoff)]], multi: true)
        }
    }
}

extension Duration {
    var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
#endif
