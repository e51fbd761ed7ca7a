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
///
/// **Lingering.** Under load, messages queue while batches commit and so share them. At an
/// everyday rate (hundreds a second) a slot is nearly always free, every message is a
/// transaction of its own, and the fixed cost of a transaction (the round trip, the function's
/// statements, the commit's WAL flush, a wake-up of every listening backend) is most of what a
/// message costs the database and much of what it costs the server. So when messages have been
/// arriving less than ``linger`` apart (a moving average of the gaps) and a writer's batch would
/// be its message alone, the writer waits up to ``linger`` for companions: after each one that
/// joins, it waits for another only while the next is due (the last arrival plus the mean gap)
/// within its ``linger``, and otherwise writes at once. So the wait buys as many companions as
/// the rate brings within ``linger`` and never ends empty-handed at a steady rate. Idle and slow
/// traffic never waits: the average gap is then longer than ``linger``.
/// Nor does, for long, a sender that waits for each answer before it sends again (an importer,
/// say): its gaps are short, but no companion can come while it waits, so waits that end
/// without one make the next ones rarer (``companionRate``). Likewise senders that come in
/// closed-loop pairs, or bursts: another companion is due by the average, but none comes until
/// the batch is written, so waits for a further companion that end without one make those
/// rarer (``furtherRate``), and the writer then goes with its first companion.
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

    /// What a sender does with its message.
    enum Submission {
        /// It holds a slot: write a batch now.
        case write
        /// It holds a slot: wait (``awaitCompanion(writer:waiter:)``) for the next message, at
        /// most until `until` (then ``lingerEnded(writer:)``), and write a batch with it.
        case linger(until: ContinuousClock.Instant)
        /// The message is queued: another sender's batch takes it, or its sender is handed a
        /// slot later.
        case queued
        /// The message is queued for the lingering writer's batch: resume that writer, who
        /// writes now.
        case queuedResumingLingerer(Waiter)
    }

    /// The writer that waits for companion messages.
    private struct Lingerer {
        let id: UInt64
        /// When the wait ends whatever came.
        let until: ContinuousClock.Instant
        /// Messages that joined its batch so far (at the front of the queue).
        var companions = 0
        /// Set once the writer waits; enough companions or the end of the wait resume it.
        var waiter: Waiter?
    }

    let maximumBatch: Int
    let maximumConcurrentBatches: Int
    let timeout: Duration
    /// Longest a writer waits for a companion; zero turns lingering off.
    let linger: Duration

    /// Messages waiting for a batch, in arrival order (writers' own messages are not here).
    private(set) var queue: Deque<Queued> = []
    /// The messages whose senders hold a writing slot.
    private(set) var writers: Set<UInt64> = []
    private var nextID: UInt64 = 0
    private var lingerer: Lingerer?
    private var lastArrival: ContinuousClock.Instant?
    /// Moving average of the gaps between arrivals (each new gap weighs an eighth).
    private(set) var meanGap: Duration?
    /// How often a wait recently brought a companion (a moving average, a quarter per wait). A
    /// writer waits only while it is at least a half; each message that does not wait for that
    /// reason raises it by a thirty-second of what it lacks, so that waiting is tried again.
    private(set) var companionRate = 1.0
    /// The same for waits beyond the first companion: how often waiting for a further one brought
    /// it. A writer that has a companion waits for more only while it is at least a half; each
    /// writer that goes with fewer for that reason raises it by a thirty-second of what it lacks.
    private(set) var furtherRate = 1.0
    /// The writer whose companion came, until it takes its batch.
    private var joined: UInt64?

    init(maximumBatch: Int, maximumConcurrentBatches: Int, timeout: Duration, linger: Duration = .zero) {
        self.maximumBatch = maximumBatch
        self.maximumConcurrentBatches = maximumConcurrentBatches
        self.timeout = timeout
        self.linger = linger
    }

    /// An id for a new message, in arrival order.
    mutating func makeID() -> UInt64 {
        defer { nextID &+= 1 }
        return nextID
    }

    /// A message arrives at `now`; see ``Submission`` for what its sender does. `waiter` is kept
    /// if the message is queued.
    mutating func submit(
        id: UInt64, message: Message, deadline: ContinuousClock.Instant, waiter: Waiter, now: ContinuousClock.Instant
    ) -> Submission {
        recordArrival(at: now)
        if var lingering = lingerer {
            // A companion of the writer that waits: it goes into that writer's batch.
            queue.append(Queued(id: id, message: message, deadline: deadline, waiter: waiter))
            if lingering.companions == 0 {
                companionRate += (1 - companionRate) / 4
            } else {
                furtherRate += (1 - furtherRate) / 4
            }
            lingering.companions += 1
            if lingering.companions < maximumBatch - 1, let meanGap, now + meanGap <= lingering.until {
                if furtherRate >= 0.5 {
                    lingerer = lingering
                    return .queued
                }
                furtherRate += (1 - furtherRate) / 32
            }
            // The batch goes now. A writer not yet waiting learns from
            // ``awaitCompanion(writer:waiter:)`` that it writes now.
            lingerer = nil
            joined = lingering.id
            return lingering.waiter.map { .queuedResumingLingerer($0) } ?? .queued
        }
        // Nothing overtakes a companion: until its writer takes it, later messages queue behind
        // it (and go into the same batch).
        guard writers.count < maximumConcurrentBatches, joined == nil else {
            queue.append(Queued(id: id, message: message, deadline: deadline, waiter: waiter))
            return .queued
        }
        writers.insert(id)
        if linger > .zero, queue.isEmpty, let meanGap, meanGap <= linger {
            guard companionRate >= 0.5 else {
                companionRate += (1 - companionRate) / 32
                return .write
            }
            lingerer = Lingerer(id: id, until: now + linger)
            return .linger(until: now + linger)
        }
        return .write
    }

    private mutating func recordArrival(at now: ContinuousClock.Instant) {
        defer { lastArrival = now }
        guard let lastArrival else { return }
        let gap = min(max(now - lastArrival, .zero), .seconds(1))
        meanGap = meanGap.map { ($0 * 7 + gap) / 8 } ?? gap
    }

    /// A lingering writer waits with `waiter`. Returns `false` when it must not wait (its
    /// companions came already, or its time is up): it writes now.
    mutating func awaitCompanion(writer id: UInt64, waiter: Waiter) -> Bool {
        guard lingerer?.id == id else { return false }
        lingerer?.waiter = waiter
        return true
    }

    /// The lingering writer's time is up: returns its waiter to resume, if it waits.
    mutating func lingerEnded(writer id: UInt64) -> Waiter? {
        guard let lingering = lingerer, lingering.id == id else { return nil }
        lingerer = nil
        if lingering.companions == 0 {
            companionRate *= 0.75
        } else {
            // It waited for a further companion in vain. Its companions are left to it, as to
            // any writer they joined.
            furtherRate *= 0.75
            joined = id
        }
        return lingering.waiter
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
        if joined == id { joined = nil }
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
        // A companion is left to the writer it joined, or still waits with.
        guard joined == nil, (lingerer?.companions ?? 0) == 0, let next = queue.popFirst() else { return nil }
        writers.insert(next.id)
        return next
    }
}
