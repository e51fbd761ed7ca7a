import EventLoopExecutor
import Logging
import ParleyDomain
import PostgresNIO
import Synchronization

/// Stores messages in batches: the messages that queue up while a batch commits go into the next
/// one (group commit).
///
/// Each stored message is announced by a NOTIFY inside its transaction, and PostgreSQL serialises
/// the commits of notifying transactions across their WAL flush: one message per transaction caps
/// the whole database at roughly one message per flush. Batching commits many messages per flush
/// with no added wait: an idle writer stores a message at once, alone.
///
/// There is no writer task. A sender that finds a free writing slot (there are
/// ``maximumConcurrentBatches``) writes a batch: its own message with whatever queued, in arrival
/// order. When it is done it hands its slot to the oldest message still waiting, whose sender
/// writes the next batch. Other batches are sent while one commits, so the database never waits
/// for the server to hand the turn over; with three rather than two, the server and the database
/// are busy at once more of the time (measured in `docs/benchmarks.md`; a fourth adds nothing).
/// Every caller so does at most a batch or two of work
/// and returns once its own message is committed, and nothing needs starting or stopping.
///
/// Order is kept: a batch inserts its messages in arrival order under the advisory locks of their
/// users (taken in hash order, so concurrent batches, of this instance or another, cannot
/// deadlock; migration 0009), so for each user commit order, and so the order of the
/// announcements, is `seq` order on every instance.
final class PostgresMessageWriter: Sendable {
    /// Most messages in one batch: at most twice as many user locks, which PostgreSQL keeps in a
    /// shared table of `max_locks_per_transaction` × `max_connections` entries (6,400 by
    /// default) for every batch in flight on every instance.
    static let maximumBatch = 250
    /// Batches in flight at once.
    static let maximumConcurrentBatches = 3

    private enum Turn: Sendable {
        /// Another sender's batch stored the message.
        case stored
        /// The sender holds a writing slot: it writes a batch with its message.
        case write
    }

    private typealias Machine = MessageBatchStateMachine<CheckedContinuation<Turn, any Error>>

    private let client: PostgresClient
    private let logger: Logger
    /// Longest a batch may take before its senders are told the database is unavailable.
    private let timeout: Duration
    private let deadlines: DeadlineWatchdog
    private let state: Mutex<Machine>

    /// - Parameter linger: longest a writer waits for companion messages at everyday rates
    ///   (see ``MessageBatchStateMachine``); zero never waits.
    init(client: PostgresClient, timeout: Duration, linger: Duration, deadlines: DeadlineWatchdog, logger: Logger) {
        self.client = client
        self.timeout = timeout
        self.deadlines = deadlines
        self.logger = logger
        self.state = Mutex(
            Machine(
                maximumBatch: Self.maximumBatch,
                maximumConcurrentBatches: Self.maximumConcurrentBatches,
                timeout: timeout,
                linger: linger
            ))
    }

    /// Returns once `message` is committed; throws if it was not stored, or
    /// ``StoreError/unavailable(_:)`` if that is not known within the writer's timeout.
    ///
    /// Cancelling a message that is still waiting withdraws it; one already in a batch is
    /// stored or not with its batch.
    func insert(_ message: Message) async throws {
        let deadline = ContinuousClock.now + timeout
        let id = state.withLock { $0.makeID() }
        // A message still waiting at its deadline fails; one in a batch fails with its batch,
        // whose deadline is its earliest message's.
        let watch = deadlines.watch(until: deadline) { [self] in
            withdraw(id, error: StoreError.unavailable("The database did not answer in time"))
        }
        defer { deadlines.end(watch) }
        var lingerUntil: ContinuousClock.Instant?
        let turn = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (turn: CheckedContinuation<Turn, any Error>) in
                let submission = state.withLock {
                    $0.submit(id: id, message: message, deadline: deadline, waiter: turn, now: .now)
                }
                switch submission {
                case .write:
                    turn.resume(returning: .write)
                case .linger(let until):
                    lingerUntil = until
                    turn.resume(returning: .write)
                case .queued:
                    break
                case .queuedResumingLingerer(let lingerer):
                    lingerer.resume(returning: .write)
                }
            }
        } onCancel: {
            withdraw(id, error: CancellationError())
        }
        guard case .write = turn else { return }
        if let lingerUntil { await waitForCompanion(writer: id, until: lingerUntil) }
        try await writeBatch(with: message, id: id, deadline: deadline)
    }

    /// Lingering (see ``MessageBatchStateMachine``): returns when the companions due have joined
    /// this writer's batch or at `until`, whichever comes first. The wait is an event loop's
    /// timer, cancelled when the companions come first.
    private func waitForCompanion(writer id: UInt64, until: ContinuousClock.Instant) async {
        let eventLoop = PostgresClient.defaultEventLoopGroup.any()
        let left = until - .now
        let (seconds, attoseconds) = left.components
        let nanoseconds = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        let timer = eventLoop.scheduleTask(in: .nanoseconds(max(0, nanoseconds))) { [self] in
            state.withLock { $0.lingerEnded(writer: id) }?.resume(returning: .write)
        }
        _ = try? await withCheckedThrowingContinuation { (companion: CheckedContinuation<Turn, any Error>) in
            let waits = state.withLock { $0.awaitCompanion(writer: id, waiter: companion) }
            if !waits { companion.resume(returning: .write) }
        }
        timer.cancel()
    }

    /// Takes a message out of the queue, if it is still there, and fails it.
    private func withdraw(_ id: UInt64, error: any Error) {
        state.withLock { $0.withdraw(id) }?.waiter.resume(throwing: error)
    }

    /// Writes a batch with `id`'s message and the oldest waiting ones, answers the other senders
    /// in it, passes the slot on and returns the result for `id`'s own message.
    ///
    /// A batch given up on by the server's side might still commit after its senders were told
    /// it failed; so the statement's lock waits end (and roll it back) at half of the batch's
    /// time, and the batch's time is never cut short by one old message.
    private func writeBatch(with own: Message, id: UInt64, deadline: ContinuousClock.Instant) async throws {
        // A writer whose caller gave up stores only its own message, which then fails alone.
        let alone = Task.isCancelled
        let batch = state.withLock {
            $0.takeBatch(writer: id, message: own, deadline: deadline, alone: alone, now: .now)
        }
        for waiting in batch.late { waiting.waiter.resume(throwing: Self.timedOut) }
        var results = batch.messages.isEmpty ? [] : await store(batch.messages[...], until: batch.deadline)
        let result = batch.ownPosition.map { results.remove(at: $0) } ?? .failure(Self.timedOut)
        for (waiting, result) in zip(batch.others, results) {
            switch result {
            case .success: waiting.waiter.resume(returning: .stored)
            case .failure(let error): waiting.waiter.resume(throwing: error)
            }
        }
        state.withLock { $0.batchFinished(writer: id) }?.waiter.resume(returning: .write)
        try result.get()
    }

    private static let timedOut = StoreError.unavailable("The database did not answer in time")

    /// Stores `messages` in one transaction; if the database refused one of them, each half on
    /// its own, so that one bad message fails alone at the cost of a few more transactions, not
    /// one per message. Any other failure (the database is down) fails the batch at once:
    /// splitting it would only repeat the wait for a connection, holding every sender in it.
    private func store(_ messages: ArraySlice<Message>, until deadline: ContinuousClock.Instant) async
        -> [Result<Void, any Error>]
    {
        do {
            try await insertWithinTimeout(messages, until: deadline)
            return Array(repeating: .success(()), count: messages.count)
        } catch  where messages.count > 1 && Self.isAboutTheData(error) {
            let middle = messages.startIndex + messages.count / 2
            return await store(messages[..<middle], until: deadline) + store(messages[middle...], until: deadline)
        } catch {
            return Array(repeating: .failure(error), count: messages.count)
        }
    }

    /// Inserts `messages`, giving up at `deadline` without waiting for the insert to stop: a
    /// transaction stuck on a connection the server dropped (seen after a fast PostgreSQL
    /// restart) must not hold the writer's turn, and so every later sender, for ever.
    private func insertWithinTimeout(_ messages: ArraySlice<Message>, until deadline: ContinuousClock.Instant)
        async throws
    {
        let outcome = BatchOutcome()
        defer { if let watch = outcome.watch { deadlines.end(watch) } }
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            outcome.continuation = continuation
            // Unstructured, so that the writer need not wait for it to stop; on the caller's
            // event loop, as the caller's own task is (EventLoopTaskExecutor).
            let work = Task(executorPreference: EventLoopTaskExecutor.current) {
                do {
                    try await self.insert(messages, until: deadline)
                    outcome.finish(.success(()))
                } catch {
                    outcome.finish(.failure(error))
                }
            }
            outcome.watch = deadlines.watch(until: deadline) { [logger] in
                if outcome.finish(.failure(Self.timedOut)) {
                    logger.warning("A message batch did not finish in time; abandoning it")
                    work.cancel()
                }
            }
        }
    }

    /// Whether the database rejected the data (a constraint, a bad value: SQLSTATE classes 22
    /// and 23) rather than failed to run the statement.
    static func isAboutTheData(_ error: any Error) -> Bool {
        guard let psql = PostgresStore.cause(of: error) as? PSQLError, psql.code == .server,
            let state = psql.serverInfo?[.sqlState]
        else { return false }
        return state.hasPrefix("22") || state.hasPrefix("23")
    }

    /// One statement does the work, in one round trip: `parley_store_messages_committed` locks
    /// the users, inserts the rows, updates their conversations' summaries, checks the users,
    /// publishes their events (migrations 0005, 0009, 0013) and commits before it answers (0012), so that a refused commit (PostgreSQL refuses to commit
    /// notifications when its queue is full) is the statement's own error and reaches the
    /// senders. It waits for locks at most half of the time left once it has a connection. Rows
    /// go as one array per column.
    ///
    /// A batch the writer gave up on while it waited for a connection does not start: it would
    /// store messages whose senders were told they failed.
    private func insert(_ messages: ArraySlice<Message>, until deadline: ContinuousClock.Instant) async throws {
        let ids = messages.map(\.id.hexString)
        let senders = messages.map(\.senderID.hexString)
        let receivers = messages.map(\.receiverID.hexString)
        let texts = NullableTextArray(messages.map(\.text))
        let images = NullableTextArray(messages.map(\.image))
        let mediaIDs = NullableTextArray(messages.map(\.imageMediaID))
        let created = messages.map(\.createdAt.millisecondsSince1970)
        let updated = messages.map(\.updatedAt.millisecondsSince1970)
        let events = messages.map { ClusterEvent.messageCreated($0).encoded() }
        try await client.withConnection { connection in
            let left = deadline - .now
            guard !Task.isCancelled, left > .milliseconds(2) else { throw Self.timedOut }
            let (seconds, attoseconds) = (left / 2).components
            let lockWaitMilliseconds = max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
            try await connection.run(
                """
                CALL parley_store_messages_committed(
                    \(ids), \(senders), \(receivers), \(texts), \(images), \(mediaIDs), \(created), \(updated), \(events),
                    \(lockWaitMilliseconds)
                )
                """,
                logger: logger
            )
        }
    }
}

/// The first result of a batch (its insert, or its timeout) resumes the writer; the other is
/// ignored.
private final class BatchOutcome: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Void, any Error>?
        var finished = false
        var watch: DeadlineWatchdog.Watch?
    }

    private let state = Mutex(State())

    var continuation: CheckedContinuation<Void, any Error>? {
        get { state.withLock { $0.continuation } }
        set { state.withLock { $0.continuation = newValue } }
    }

    /// The batch's deadline, ended once the writer has its result.
    var watch: DeadlineWatchdog.Watch? {
        get { state.withLock { $0.watch } }
        set { state.withLock { $0.watch = newValue } }
    }

    /// - Returns: whether this was the first result.
    @discardableResult
    func finish(_ result: Result<Void, any Error>) -> Bool {
        let continuation = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            guard !state.finished else { return nil }
            state.finished = true
            defer { state.continuation = nil }
            return state.continuation
        }
        guard let continuation else { return false }
        continuation.resume(with: result)
        return true
    }
}
