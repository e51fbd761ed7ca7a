import DequeModule
import Logging
import ParleyChat
import PostgresNIO
import Synchronization

/// Stores messages in batches: the messages that queue up while one transaction commits go into
/// the next one (group commit).
///
/// Each stored message is announced by a trigger's NOTIFY inside its transaction, and PostgreSQL
/// serialises the commits of notifying transactions across their WAL flush: one message per
/// transaction caps the whole database at roughly one message per flush. Batching commits many
/// messages per flush with no added wait: an idle writer stores a message at once, alone.
///
/// There is no writer task. The sender that finds no batch in progress writes one (its own message
/// first, with whatever queued behind it), then hands the turn to the oldest message still waiting,
/// whose sender writes the next batch. Every caller so does at most one batch of work and returns
/// once its own message is committed, and nothing needs starting or stopping.
///
/// Order is kept: a batch inserts its messages in arrival order under the advisory locks of their
/// conversations (taken in hash order, so writers of different instances cannot deadlock), so
/// within a conversation commit order is `seq` order on every instance.
final class PostgresMessageWriter: Sendable {
    /// Most messages in one transaction (8 parameters each, well under PostgreSQL's 65,535).
    static let maximumBatch = 500

    private enum Turn: Sendable {
        /// Another sender's batch stored the message.
        case stored
        /// The message leads the queue and nobody is writing: the sender writes the next batch.
        case write
    }

    private struct Waiting: Sendable {
        let id: UInt64
        let message: Message
        let turn: CheckedContinuation<Turn, any Error>
    }

    private struct State: Sendable {
        var queue: Deque<Waiting> = []
        /// The message whose sender is writing a batch; it stays first in `queue` until taken.
        var writer: UInt64?
        var nextID: UInt64 = 0
    }

    private let client: PostgresClient
    private let logger: Logger
    /// Longest a batch may take before its senders are told the database is unavailable.
    private let timeout: Duration
    private let state = Mutex(State())

    init(client: PostgresClient, timeout: Duration, logger: Logger) {
        self.client = client
        self.timeout = timeout
        self.logger = logger
    }

    /// Returns once `message` is committed; throws if it was not stored.
    ///
    /// Cancelling a message that is still waiting withdraws it; one already in a batch is
    /// stored or not with its batch.
    func insert(_ message: Message) async throws {
        let id = state.withLock { state in
            defer { state.nextID &+= 1 }
            return state.nextID
        }
        let turn = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (turn: CheckedContinuation<Turn, any Error>) in
                let writes = state.withLock { state -> Bool in
                    state.queue.append(Waiting(id: id, message: message, turn: turn))
                    guard state.writer == nil else { return false }
                    state.writer = id
                    return true
                }
                if writes { turn.resume(returning: .write) }
            }
        } onCancel: {
            let withdrawn = state.withLock { state -> Waiting? in
                guard state.writer != id, let index = state.queue.firstIndex(where: { $0.id == id }) else {
                    return nil
                }
                return state.queue.remove(at: index)
            }
            withdrawn?.turn.resume(throwing: CancellationError())
        }
        guard case .write = turn else { return }
        try await writeBatch(leadBy: id)
    }

    /// Writes the batch that `id` leads, answers the other senders in it, passes the turn on and
    /// returns the result for `id`'s own message.
    private func writeBatch(leadBy id: UInt64) async throws {
        // A writer whose caller gave up stores only its own message, which then fails alone.
        let alone = Task.isCancelled
        let batch = state.withLock { state -> [Waiting] in
            let count = alone ? 1 : min(state.queue.count, Self.maximumBatch)
            defer { state.queue.removeFirst(count) }
            return Array(state.queue.prefix(count))
        }
        assert(batch.first?.id == id, "the writer leads its batch")
        let results = await store(batch.map(\.message)[...])
        for (waiting, result) in zip(batch, results).dropFirst() {
            switch result {
            case .success: waiting.turn.resume(returning: .stored)
            case .failure(let error): waiting.turn.resume(throwing: error)
            }
        }
        let next = state.withLock { state -> Waiting? in
            state.writer = state.queue.first?.id
            return state.queue.first
        }
        next?.turn.resume(returning: .write)
        try results[0].get()
    }

    /// Stores `messages` in one transaction; if the database refused one of them, each half on
    /// its own, so that one bad message fails alone at the cost of a few more transactions, not
    /// one per message. Any other failure (the database is down) fails the batch at once:
    /// splitting it would only repeat the wait for a connection, holding every sender in it.
    private func store(_ messages: ArraySlice<Message>) async -> [Result<Void, any Error>] {
        do {
            try await insertWithinTimeout(messages)
            return Array(repeating: .success(()), count: messages.count)
        } catch  where messages.count > 1 && !Task.isCancelled && Self.isAboutTheData(error) {
            let middle = messages.startIndex + messages.count / 2
            return await store(messages[..<middle]) + store(messages[middle...])
        } catch {
            return Array(repeating: .failure(error), count: messages.count)
        }
    }

    /// Inserts `messages`, giving up after ``timeout`` without waiting for the insert to stop: a
    /// transaction stuck on a connection the server dropped (seen after a fast PostgreSQL
    /// restart) must not hold the writer's turn, and so every later sender, for ever.
    private func insertWithinTimeout(_ messages: ArraySlice<Message>) async throws {
        let outcome = BatchOutcome()
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            outcome.continuation = continuation
            let work = Task {
                do {
                    try await self.insert(messages)
                    outcome.finish(.success(()))
                } catch {
                    outcome.finish(.failure(error))
                }
            }
            outcome.timer = Task { [timeout, logger] in
                guard (try? await Task.sleep(for: timeout)) != nil else { return }
                if outcome.finish(.failure(StoreError.unavailable("The database did not answer in time"))) {
                    logger.warning("A message batch did not finish in time; abandoning it")
                    work.cancel()
                }
            }
        }
    }

    /// Whether the database rejected the data (a constraint, a bad value: SQLSTATE classes 22
    /// and 23) rather than failed to run the statement.
    static func isAboutTheData(_ error: any Error) -> Bool {
        var underlying: (any Error)? = error
        if let transaction = error as? PostgresTransactionError {
            underlying = transaction.closureError ?? transaction.commitError ?? transaction.beginError
        }
        guard let psql = underlying as? PSQLError, psql.code == .server,
            let state = psql.serverInfo?[.sqlState]
        else { return false }
        return state.hasPrefix("22") || state.hasPrefix("23")
    }

    private func insert(_ messages: ArraySlice<Message>) async throws {
        var conversations = Set<String>()
        var bindings = PostgresBindings(capacity: messages.count * 8)
        var rows: [String] = []
        for message in messages {
            let (low, high) =
                message.senderID < message.receiverID
                ? (message.senderID, message.receiverID) : (message.receiverID, message.senderID)
            conversations.insert("parley.conversation.\(low.hexString).\(high.hexString)")
            let first = bindings.count + 1
            bindings.append(message.id.hexString)
            bindings.append(message.senderID.hexString)
            bindings.append(message.receiverID.hexString)
            bindings.append(message.text)
            bindings.append(message.image)
            bindings.append(message.imageMediaID)
            bindings.append(message.createdAt.date)
            bindings.append(message.updatedAt.date)
            rows.append("(" + (first..<first + 8).map { "$\($0)" }.joined(separator: ", ") + ")")
        }
        let insert = PostgresQuery(
            unsafeSQL: """
                INSERT INTO messages (id, sender_id, receiver_id, text, image, image_media_id, created_at, updated_at)
                VALUES \(rows.joined(separator: ", "))
                """,
            binds: bindings
        )
        let keys = Array(conversations)
        try await client.withTransaction(logger: logger) { connection in
            // Locks in hash order, whoever takes them: no two writers wait on each other in a cycle.
            try await connection.query(
                """
                SELECT pg_advisory_xact_lock(h) FROM (
                    SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest(\(keys)::text[]) AS k ORDER BY h
                ) AS ordered
                """,
                logger: logger
            )
            try await connection.query(insert, logger: logger)
        }
    }
}

/// The first result of a batch (its insert, or its timeout) resumes the writer; the other is
/// ignored.
private final class BatchOutcome: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Void, any Error>?
        var finished = false
        var timer: Task<Void, Never>?
    }

    private let state = Mutex(State())

    var continuation: CheckedContinuation<Void, any Error>? {
        get { state.withLock { $0.continuation } }
        set { state.withLock { $0.continuation = newValue } }
    }

    /// The timeout's task, cancelled once the batch has finished.
    var timer: Task<Void, Never>? {
        get { state.withLock { $0.timer } }
        set {
            let late = state.withLock { state -> Bool in
                state.timer = newValue
                return state.finished
            }
            if late { newValue?.cancel() }
        }
    }

    /// - Returns: whether this was the first result.
    @discardableResult
    func finish(_ result: Result<Void, any Error>) -> Bool {
        let (continuation, timer) = state.withLock {
            state -> (CheckedContinuation<Void, any Error>?, Task<Void, Never>?) in
            guard !state.finished else { return (nil, nil) }
            state.finished = true
            defer { state.continuation = nil }
            return (state.continuation, state.timer)
        }
        guard let continuation else { return false }
        timer?.cancel()
        continuation.resume(with: result)
        return true
    }
}
