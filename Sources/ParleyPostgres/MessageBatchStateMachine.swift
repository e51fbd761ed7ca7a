import DequeModule
import ParleyDomain

/// Who writes which messages in which batch, for ``PostgresMessageWriter``, without I/O.
///
/// There are ``maximumConcurrentBatches`` writing slots. A message whose sender finds a free slot
/// is written at once by that sender, with whatever queued meanwhile; otherwise it queues. When a
/// sender's batch is done, its slot goes to the oldest queued message, whose sender writes the
/// next batch. `Waiter` is what the writer resumes a queued sender with (its continuation).
///
/// A batch keeps at least a quarter of the timeout: a message with less time left is failed at
/// once rather than shorten its batch, and the batch's deadline is its earliest message's.
struct MessageBatchStateMachine<Waiter> {
    struct Queued {
        let id: UInt64
        let message: Message
        /// When its sender gives up: the batch that takes it must finish by then.
        let deadline: ContinuousClock.Instant
        let waiter: Waiter
    }

    /// A batch to write, in arrival order.
    struct Batch {
        /// The messages of the batch, in arrival order, the writer's own included when it has
        /// the time for it.
        var messages: [Message]
        /// Where the writer's own message is in ``messages``; `nil` if it is too late to go in.
        var ownPosition: Int?
        /// The queued messages taken into the batch, in the order of ``messages`` without the
        /// writer's own.
        var others: [Queued]
        /// Taken from the queue but with less than a quarter of the timeout left: fail them.
        var late: [Queued]
        /// When the batch must be done.
        var deadline: ContinuousClock.Instant
    }

    let maximumBatch: Int
    let maximumConcurrentBatches: Int
    let timeout: Duration

    /// Messages waiting for a batch, in arrival order (writers' own messages are not here).
    private(set) var queue: Deque<Queued> = []
    /// The messages whose senders hold a writing slot.
    private(set) var writers: Set<UInt64> = []
    private var nextID: UInt64 = 0

    init(maximumBatch: Int, maximumConcurrentBatches: Int, timeout: Duration) {
        self.maximumBatch = maximumBatch
        self.maximumConcurrentBatches = maximumConcurrentBatches
        self.timeout = timeout
    }

    /// An id for a new message, in arrival order.
    mutating func makeID() -> UInt64 {
        defer { nextID &+= 1 }
        return nextID
    }

    /// A message arrives. Returns `true` when its sender holds a slot and writes a batch now;
    /// otherwise it is queued with `waiter`.
    mutating func submit(id: UInt64, message: Message, deadline: ContinuousClock.Instant, waiter: Waiter) -> Bool {
        guard writers.count < maximumConcurrentBatches else {
            queue.append(Queued(id: id, message: message, deadline: deadline, waiter: waiter))
            return false
        }
        writers.insert(id)
        return true
    }

    /// Takes a queued message out (its sender gave up); `nil` if it is no longer queued.
    mutating func withdraw(_ id: UInt64) -> Queued? {
        guard let index = queue.firstIndex(where: { $0.id == id }) else { return nil }
        return queue.remove(at: index)
    }

    /// The batch the holder of a slot writes now: its message and the oldest queued ones.
    /// - Parameter alone: the writer's caller gave up: it writes only its own message, which then
    ///   fails alone.
    mutating func takeBatch(
        writer id: UInt64,
        message own: Message,
        deadline ownDeadline: ContinuousClock.Instant,
        alone: Bool,
        now: ContinuousClock.Instant
    ) -> Batch {
        let count = alone ? 0 : min(queue.count, maximumBatch - 1)
        let taken = Array(queue.prefix(count))
        queue.removeFirst(count)
        let shortest = now + timeout / 4
        let late = taken.filter { $0.deadline < shortest }
        let others = taken.filter { $0.deadline >= shortest }
        let ownLate = ownDeadline < shortest
        // Arrival order: the writer's message came after every message still queued, unless it
        // was handed the slot while waiting.
        let position = ownLate ? nil : others.firstIndex { $0.id > id } ?? others.count
        var messages = others.map(\.message)
        if let position { messages.insert(own, at: position) }
        let deadline = others.reduce(ownLate ? now + timeout : ownDeadline) { min($0, $1.deadline) }
        return Batch(messages: messages, ownPosition: position, others: others, late: late, deadline: deadline)
    }

    /// The writer's batch is done: its slot goes to the oldest queued message, whose sender
    /// writes next (returned, to be resumed).
    mutating func batchFinished(writer id: UInt64) -> Queued? {
        writers.remove(id)
        guard let next = queue.popFirst() else { return nil }
        writers.insert(next.id)
        return next
    }
}
