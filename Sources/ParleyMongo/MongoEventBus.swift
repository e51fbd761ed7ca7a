// The MongoDB trait builds this module (swift build --traits MongoDB); without it, it is empty.
#if MongoDB
import Logging
import ParleyChat
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

    /// Reads the change stream until cancelled, reopening it as needed.
    func listen() async {
        var resumeToken: BSON?
        var backoff = Duration.milliseconds(100)
        var openedBefore = false
        while !Task.isCancelled {
            do {
                var cursor = try await open(resumingAfter: resumeToken)
                if openedBefore {
                    logger.notice("Reading cluster events again; resynchronising presence")
                    fanOut.deliver(.resynchronized)
                }
                openedBefore = true
                backoff = .milliseconds(100)
                resumeToken = cursor.resumeToken ?? resumeToken
                handle(cursor.events)
                var idle = Duration.milliseconds(10)
                while !Task.isCancelled {
                    let started = ContinuousClock.now
                    cursor = try await next(cursor)
                    resumeToken = cursor.resumeToken ?? resumeToken
                    handle(cursor.events)
                    // A server that answers an empty batch at once instead of waiting for events
                    // must not be polled in a busy loop.
                    if cursor.events.isEmpty, ContinuousClock.now - started < .milliseconds(100) {
                        try await Task.sleep(for: idle)
                        idle = min(idle * 2, .milliseconds(100))
                    } else {
                        idle = .milliseconds(10)
                    }
                }
            } catch let error as MongoError where [136, 280, 286].contains(error.code) {
                // The stream cannot resume after that token (history lost): start from now.
                logger.warning("Cluster events were lost; starting afresh", metadata: ["error": "\(error)"])
                resumeToken = nil
            } catch {
                if Task.isCancelled { break }
                ChatMetrics.busReconnected()
                logger.warning(
                    "Cluster event stream lost; reopening",
                    metadata: ["error": "\(error)", "retry.in": "\(backoff)"]
                )
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
            }
        }
        fanOut.finish()
    }

    /// One batch of a change stream and where to continue.
    struct StreamBatch: Sendable {
        var cursorID: BSON
        var events: [String]
        var resumeToken: BSON?
    }

    private func open(resumingAfter token: BSON?) async throws -> StreamBatch {
        var stage: BSONDocument = [:]
        if let token { stage["resumeAfter"] = token }
        let command: BSONDocument = [
            "aggregate": .string(Self.collection),
            "pipeline": [["$changeStream": .document(stage)], ["$match": ["operationType": "insert"]]],
            "cursor": ["batchSize": 1000],
        ]
        let reply = try await pool.withDedicatedConnection { try $0.runCommand(command) }
        return try Self.batch(reply, key: "firstBatch")
    }

    private func next(_ batch: StreamBatch) async throws -> StreamBatch {
        let command: BSONDocument = [
            "getMore": batch.cursorID, "collection": .string(Self.collection), "maxTimeMS": 1000,
            "batchSize": 1000,
        ]
        let reply = try await pool.withDedicatedConnection { try $0.runCommand(command) }
        return try Self.batch(reply, key: "nextBatch")
    }

    static func batch(_ reply: BSONDocument, key: String) throws -> StreamBatch {
        guard let cursor = reply["cursor"]?.documentValue, let id = cursor["id"] else {
            throw MongoError(domain: 0, code: 0, message: "change stream reply without a cursor")
        }
        guard id.intValue != 0 else {
            // The server closed the stream (the collection was dropped, an invalidate event).
            throw MongoError(domain: 0, code: 0, message: "the change stream was closed by the server")
        }
        let changes = (cursor[key]?.arrayValue ?? []).compactMap(\.documentValue)
        return StreamBatch(
            cursorID: id,
            events: changes.compactMap { $0["fullDocument"]?.documentValue?["event"]?.stringValue },
            resumeToken: cursor["postBatchResumeToken"] ?? changes.last?["_id"]
        )
    }

    private func handle(_ events: [String]) {
        for payload in events {
            guard let event = ClusterEvent(encoded: payload) else {
                logger.debug("Ignoring an unknown cluster event", metadata: ["payload": "\(payload.prefix(200))"])
                continue
            }
            fanOut.deliver(.event(event))
        }
    }

    /// Deletes events older than ``retention`` (every instance does it; deleting twice is harmless).
    func clean() async throws {
        let cutoff = Timestamp.now().adding(milliseconds: -Self.retention.milliseconds)
        try await pool.withConnection { connection in
            _ = try connection.runCommand([
                "delete": .string(Self.collection),
                "deletes": [["q": ["at": ["$lt": .date(cutoff)]], "limit": 0]],
            ])
        }
    }
}

extension Duration {
    var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
#endif
