import ParleyDomain
import Testing

@testable import ParleyPostgres
@testable import ParleyTesting

/// The group-commit writer's bookkeeping, without a database: slots, the queue, batches and
/// their deadlines. Time is given, not slept.
@Suite("PostgreSQL message batches")
struct MessageBatchStateMachineTests {
    typealias Machine = MessageBatchStateMachine<String>
    let now = ContinuousClock.now
    let timeout = Duration.seconds(8)

    func machine(slots: Int = 2, batch: Int = 3, linger: Duration = .zero) -> Machine {
        Machine(maximumBatch: batch, maximumConcurrentBatches: slots, timeout: timeout, linger: linger)
    }

    func message(_ text: String) -> Message {
        Fixture.message(from: ObjectID(), to: ObjectID(), text: text)
    }

    /// Submits a message; returns its id and whether its sender writes now.
    func submit(_ text: String, to machine: inout Machine, deadline: Duration = .seconds(8)) -> (UInt64, Bool) {
        let (id, submission) = submit(text, to: &machine, deadline: deadline, at: .zero)
        guard case .write = submission else { return (id, false) }
        return (id, true)
    }

    /// Submits a message arriving `at` after ``now``; returns its id and what its sender does.
    func submit(
        _ text: String, to machine: inout Machine, deadline: Duration = .seconds(8), at time: Duration
    ) -> (UInt64, Machine.Submission) {
        let id = machine.makeID()
        let submission = machine.submit(
            id: id, message: message(text), deadline: now + time + deadline, waiter: text, now: now + time)
        return (id, submission)
    }

    @Test func sendersWriteWhileSlotsAreFreeThenQueue() {
        var machine = machine(slots: 2)
        #expect(submit("a", to: &machine).1)
        #expect(submit("b", to: &machine).1)
        #expect(!submit("c", to: &machine).1)
        #expect(machine.queue.map(\.waiter) == ["c"])
        #expect(machine.writers.count == 2)
    }

    @Test func aBatchTakesItsWritersMessageAndTheOldestQueuedInArrivalOrder() {
        var machine = machine(slots: 1, batch: 3)
        let (writer, _) = submit("a", to: &machine)
        for text in ["b", "c", "d"] { _ = submit(text, to: &machine) }
        let batch = machine.takeBatch(
            writer: writer, message: message("a"), deadline: now + timeout, alone: false, now: now)
        // At most three: the writer's and the two oldest, in arrival order; "d" waits.
        #expect(batch.messages.map(\.text) == ["a", "b", "c"])
        #expect(batch.ownPosition == 0)
        #expect(batch.others.map(\.waiter) == ["b", "c"])
        #expect(machine.queue.map(\.waiter) == ["d"])
        // Done: the slot goes to "d", whose sender writes next.
        #expect(machine.batchFinished(writer: writer)?.waiter == "d")
        #expect(machine.queue.isEmpty)
        #expect(machine.writers.count == 1)
    }

    @Test func aWriterHandedTheSlotWhileWaitingKeepsItsPlace() {
        var machine = machine(slots: 1, batch: 10)
        let (first, _) = submit("a", to: &machine)
        let (second, _) = submit("b", to: &machine)
        _ = submit("c", to: &machine)
        // "a" writes alone (its caller gave up); then "b" gets the slot.
        _ = machine.takeBatch(writer: first, message: message("a"), deadline: now + timeout, alone: true, now: now)
        #expect(machine.batchFinished(writer: first)?.waiter == "b")
        let batch = machine.takeBatch(
            writer: second, message: message("b"), deadline: now + timeout, alone: false, now: now)
        // "b" arrived before "c": it goes first.
        #expect(batch.messages.map(\.text) == ["b", "c"])
        #expect(batch.ownPosition == 0)
    }

    @Test func messagesWithLessThanAQuarterOfTheTimeoutFailInsteadOfShorteningTheBatch() {
        var machine = machine(slots: 1, batch: 10)
        let (writer, _) = submit("a", to: &machine)
        _ = submit("old", to: &machine, deadline: .seconds(1))
        _ = submit("fresh", to: &machine, deadline: .seconds(6))
        let batch = machine.takeBatch(
            writer: writer, message: message("a"), deadline: now + .seconds(7), alone: false, now: now)
        #expect(batch.late.map(\.waiter) == ["old"])
        #expect(batch.messages.map(\.text) == ["a", "fresh"])
        // The earliest deadline in the batch bounds it.
        #expect(batch.deadline == now + .seconds(6))
    }

    @Test func aLateWriterStillWritesTheOthersButNotItsOwn() {
        var machine = machine(slots: 1, batch: 10)
        let (writer, _) = submit("a", to: &machine)
        _ = submit("b", to: &machine)
        let batch = machine.takeBatch(
            writer: writer, message: message("a"), deadline: now + .seconds(1), alone: false, now: now)
        #expect(batch.ownPosition == nil)
        #expect(batch.messages.map(\.text) == ["b"])
    }

    @Test func aWriterWhoseCallerGaveUpWritesAlone() {
        var machine = machine(slots: 1, batch: 10)
        let (writer, _) = submit("a", to: &machine)
        _ = submit("b", to: &machine)
        let batch = machine.takeBatch(
            writer: writer, message: message("a"), deadline: now + timeout, alone: true, now: now)
        #expect(batch.messages.map(\.text) == ["a"])
        #expect(machine.queue.map(\.waiter) == ["b"])
    }

    @Test func aQueuedMessageCanBeWithdrawnOnce() {
        var machine = machine(slots: 1)
        _ = submit("a", to: &machine)
        let (id, _) = submit("b", to: &machine)
        #expect(machine.withdraw(id)?.waiter == "b")
        #expect(machine.withdraw(id)?.waiter == nil)
        #expect(machine.queue.isEmpty)
    }

    // MARK: Lingering

    /// Sends `count` messages `gap` apart from `start` on a machine whose batches are written and
    /// finish at once, as a steady stream would: a writer that lingers takes the companions that
    /// come, writes when the machine resumes it or when its linger is up. Returns the time after
    /// the last, with no writer left waiting.
    func warmUp(_ machine: inout Machine, count: Int = 30, gap: Duration, from start: Duration = .zero) -> Duration {
        var time = start
        var lingering: (id: UInt64, until: ContinuousClock.Instant)?
        func write(_ id: UInt64, _ machine: inout Machine, at time: Duration) {
            _ = machine.takeBatch(
                writer: id, message: message("warm"), deadline: now + time + timeout, alone: false, now: now + time)
            _ = machine.batchFinished(writer: id)
        }
        for index in 0..<count {
            if let writer = lingering, writer.until <= now + time {
                _ = machine.lingerEnded(writer: writer.id)
                write(writer.id, &machine, at: time)
                lingering = nil
            }
            let (id, submission) = submit("warm \(index)", to: &machine, at: time)
            switch submission {
            case .write:
                write(id, &machine, at: time)
            case .linger(let until):
                _ = machine.awaitCompanion(writer: id, waiter: "warm \(index) waits")
                lingering = (id, until)
            case .queuedResumingLingerer:
                if let writer = lingering { write(writer.id, &machine, at: time) }
                lingering = nil
            case .queued:
                break
            }
            time += gap
        }
        if let writer = lingering {
            _ = machine.lingerEnded(writer: writer.id)
            write(writer.id, &machine, at: time)
        }
        return time
    }

    /// Another writer takes a slot at `time` and writes a batch of its own (its wait, if any,
    /// ended without a companion); then "a" arrives 2 ms later, lingers and waits. Returns the
    /// two writers, or `nil` (with the issue recorded) if "a" did not linger.
    func lingeringBesideABusyWriter(_ machine: inout Machine, at time: Duration) -> (other: UInt64, writer: UInt64)? {
        let (other, lingering) = submit("other", to: &machine, at: time)
        if case .linger = lingering { _ = machine.lingerEnded(writer: other) }
        _ = machine.takeBatch(
            writer: other, message: message("other"), deadline: now + time + timeout, alone: false, now: now + time)
        let (writer, first) = submit("a", to: &machine, at: time + .milliseconds(2))
        guard case .linger = first else {
            Issue.record("expected to linger: \(first)")
            return nil
        }
        let waits = machine.awaitCompanion(writer: writer, waiter: "a waits")
        #expect(waits)
        return (other, writer)
    }

    @Test func idleAndSlowTrafficNeverWaits() {
        var machine = machine(slots: 3, linger: .milliseconds(3))
        // The first message has no average to go by; then one every 10 ms is slower than 3 ms.
        let (_, first) = submit("first", to: &machine, at: .zero)
        guard case .write = first else { Issue.record("the first message waited: \(first)"); return }
        var slow = machine
        let time = warmUp(&slow, gap: .milliseconds(10), from: .milliseconds(10))
        let (_, submission) = submit("slow", to: &slow, at: time)
        guard case .write = submission else { Issue.record("a slow message waited: \(submission)"); return }
    }

    @Test func lingeringIsOffAtZero() {
        var machine = machine(slots: 3)
        let time = warmUp(&machine, gap: .microseconds(100))
        let (_, submission) = submit("fast", to: &machine, at: time)
        guard case .write = submission else { Issue.record("waited with lingering off: \(submission)"); return }
    }

    @Test func atEverydayRatesAWriterWaitsForTheNextMessageAndWritesBothInOrder() {
        var machine = machine(slots: 3, batch: 10, linger: .milliseconds(3))
        let time = warmUp(&machine, gap: .milliseconds(2))
        let (writer, submission) = submit("a", to: &machine, at: time)
        guard case .linger(let until) = submission else { Issue.record("expected to linger: \(submission)"); return }
        #expect(until == now + time + .milliseconds(3))
        let waits = machine.awaitCompanion(writer: writer, waiter: "a waits")
        #expect(waits)
        // The next message joins: its sender is queued and the writer is resumed now.
        let (_, next) = submit("b", to: &machine, at: time + .milliseconds(2))
        guard case .queuedResumingLingerer(let resumed) = next else {
            Issue.record("expected to join: \(next)"); return
        }
        #expect(resumed == "a waits")
        let batch = machine.takeBatch(
            writer: writer, message: message("a"), deadline: now + time + timeout, alone: false,
            now: now + time + .milliseconds(2))
        #expect(batch.messages.map(\.text) == ["a", "b"])
        #expect(batch.others.map(\.waiter) == ["b"])
        // The timer firing afterwards finds nobody to resume.
        let late = machine.lingerEnded(writer: writer)
        #expect(late == nil)
    }

    @Test func companionsThatFillTheBatchBeforeTheWriterWaitsLetItWriteAtOnce() {
        var machine = machine(slots: 3, batch: 3, linger: .milliseconds(3))
        let time = warmUp(&machine, gap: .milliseconds(1))
        let (writer, submission) = submit("a", to: &machine, at: time)
        guard case .linger = submission else { Issue.record("expected to linger: \(submission)"); return }
        let (_, next) = submit("b", to: &machine, at: time + .microseconds(10))
        guard case .queued = next else { Issue.record("expected to queue: \(next)"); return }
        let (_, last) = submit("c", to: &machine, at: time + .microseconds(20))
        guard case .queued = last else { Issue.record("expected to queue: \(last)"); return }
        let waits = machine.awaitCompanion(writer: writer, waiter: "a waits")
        #expect(!waits)
        #expect(machine.queue.map(\.waiter) == ["b", "c"])
    }

    @Test func aWaitTakesTheCompanionsDueWithinItsLinger() {
        // One message every 2 ms and a linger of 5 ms: after the first companion (2 ms in) the
        // next is due 4 ms in, within the linger; after that one, 6 ms in, past it.
        var machine = machine(slots: 3, batch: 10, linger: .milliseconds(5))
        let time = warmUp(&machine, gap: .milliseconds(2))
        let (writer, submission) = submit("a", to: &machine, at: time)
        guard case .linger = submission else { Issue.record("expected to linger: \(submission)"); return }
        let waits = machine.awaitCompanion(writer: writer, waiter: "a waits")
        #expect(waits)
        let (_, second) = submit("b", to: &machine, at: time + .milliseconds(2))
        guard case .queued = second else { Issue.record("expected to join and wait on: \(second)"); return }
        let (_, third) = submit("c", to: &machine, at: time + .milliseconds(4))
        guard case .queuedResumingLingerer(let resumed) = third else {
            Issue.record("expected to join and end the wait: \(third)"); return
        }
        #expect(resumed == "a waits")
        let batch = machine.takeBatch(
            writer: writer, message: message("a"), deadline: now + time + timeout, alone: false,
            now: now + time + .milliseconds(4))
        #expect(batch.messages.map(\.text) == ["a", "b", "c"])
        let late = machine.lingerEnded(writer: writer)
        #expect(late == nil)
    }

    @Test func aWaitThatEndsWithCompanionsKeepsThem() {
        var machine = machine(slots: 3, batch: 10, linger: .milliseconds(5))
        let time = warmUp(&machine, gap: .milliseconds(2))
        // Another writer is busy with a batch of its own (its wait ended without a companion);
        // "a" lingers 2 ms later and waits.
        guard let (other, writer) = lingeringBesideABusyWriter(&machine, at: time) else { return }
        let (_, companion) = submit("b", to: &machine, at: time + .milliseconds(4))
        guard case .queued = companion else { Issue.record("expected to join and wait on: \(companion)"); return }
        // The other batch finishes while the writer still waits: the companion is not handed on.
        let handed = machine.batchFinished(writer: other)
        #expect(handed == nil)
        // The next one does not come in time; the writer writes with the one that did, and
        // such a wait does not make waiting rarer.
        let rate = machine.companionRate
        let ended = machine.lingerEnded(writer: writer)
        #expect(ended == "a waits")
        #expect(machine.companionRate == rate)
        let (_, later) = submit("c", to: &machine, at: time + .milliseconds(7) + .microseconds(10))
        guard case .queued = later else { Issue.record("overtook the companion: \(later)"); return }
        let batch = machine.takeBatch(
            writer: writer, message: message("a"), deadline: now + time + timeout, alone: false,
            now: now + time + .milliseconds(7) + .microseconds(20))
        #expect(batch.messages.map(\.text) == ["a", "b", "c"])
    }

    @Test func withoutACompanionTheWriterWritesAloneWhenItsTimeIsUp() {
        var machine = machine(slots: 3, linger: .milliseconds(3))
        let time = warmUp(&machine, gap: .milliseconds(2))
        let (writer, submission) = submit("a", to: &machine, at: time)
        guard case .linger = submission else { Issue.record("expected to linger: \(submission)"); return }
        let waits = machine.awaitCompanion(writer: writer, waiter: "a waits")
        #expect(waits)
        let ended = machine.lingerEnded(writer: writer)
        let again = machine.lingerEnded(writer: writer)
        #expect(ended == "a waits")
        #expect(again == nil)
        // The next message is nobody's companion: it takes a slot of its own.
        let (_, next) = submit("b", to: &machine, at: time + .milliseconds(5))
        switch next {
        case .write, .linger: break
        default: Issue.record("expected a slot of its own: \(next)")
        }
        #expect(machine.queue.isEmpty)
    }

    @Test func underLoadLaterMessagesQueueForTheNextBatch() {
        var machine = machine(slots: 1, batch: 10, linger: .milliseconds(3))
        let time = warmUp(&machine, gap: .microseconds(100))
        // The later messages join the waiting writer (the next is always due within its linger).
        let (_, first) = submit("a", to: &machine, at: time)
        guard case .linger(_) = first else { Issue.record("expected to linger: \(first)"); return }
        let (_, second) = submit("b", to: &machine, at: time + .microseconds(100))
        guard case .queued = second else { Issue.record("expected to queue: \(second)"); return }
        let (_, third) = submit("c", to: &machine, at: time + .microseconds(200))
        guard case .queued = third else { Issue.record("expected to queue: \(third)"); return }
        #expect(machine.queue.map(\.waiter) == ["b", "c"])
    }

    @Test func theAverageGapFollowsTheTraffic() {
        var machine = machine(slots: 3, linger: .milliseconds(3))
        var time = warmUp(&machine, gap: .milliseconds(2))
        #expect(machine.meanGap.map { $0 < .milliseconds(3) } == true)
        // A long pause counts as one second, then fast traffic brings the average back down.
        time = warmUp(&machine, count: 1, gap: .zero, from: time + .seconds(60))
        #expect(machine.meanGap.map { $0 > .milliseconds(100) } == true)
        _ = warmUp(&machine, count: 60, gap: .milliseconds(1), from: time)
        #expect(machine.meanGap.map { $0 < .milliseconds(3) } == true)
    }

    @Test func nothingOvertakesACompanionBeforeItsWriterTakesIt() {
        var machine = machine(slots: 3, batch: 10, linger: .milliseconds(3))
        let time = warmUp(&machine, gap: .milliseconds(2))
        // Another writer is busy with a batch of its own (its wait ended without a companion);
        // "a" lingers 2 ms later and waits.
        guard let (other, writer) = lingeringBesideABusyWriter(&machine, at: time) else { return }
        // The companion comes 2 ms in; the next would be due past the 3 ms of lingering.
        let (_, companion) = submit("b", to: &machine, at: time + .milliseconds(4))
        guard case .queuedResumingLingerer = companion else { Issue.record("expected to join: \(companion)"); return }
        // A slot is free, but the next message queues behind the companion, and a batch that
        // finishes leaves the companion to its writer.
        let (_, later) = submit("c", to: &machine, at: time + .milliseconds(4))
        guard case .queued = later else { Issue.record("overtook the companion: \(later)"); return }
        let handed = machine.batchFinished(writer: other)
        #expect(handed == nil)
        let batch = machine.takeBatch(
            writer: writer, message: message("a"), deadline: now + time + timeout, alone: false,
            now: now + time + .milliseconds(4))
        #expect(batch.messages.map(\.text) == ["a", "b", "c"])
        // Once it has, arrivals take free slots again.
        let (_, after) = submit("d", to: &machine, at: time + .milliseconds(5))
        switch after {
        case .write, .linger: break
        default: Issue.record("expected a slot: \(after)")
        }
    }

    /// Two senders that each wait for their answer: the second always joins the first's wait, and
    /// another companion is due by the average but cannot come. Waits for it that end in vain
    /// make them rare: the writer then goes with its one companion, as it is tried again now
    /// and then.
    @Test func closedLoopPairsRarelyWaitForAThirdMessage() {
        var machine = machine(slots: 3, batch: 10, linger: .milliseconds(5))
        var time = warmUp(&machine, gap: .milliseconds(1))
        var waitedInVain = 0
        for index in 0..<60 {
            let (writer, submission) = submit("a\(index)", to: &machine, at: time)
            guard case .linger = submission else { Issue.record("expected to linger: \(submission)"); return }
            let waits = machine.awaitCompanion(writer: writer, waiter: "a\(index) waits")
            #expect(waits)
            let (_, second) = submit("b\(index)", to: &machine, at: time + .microseconds(100))
            switch second {
            case .queued:
                // Still waiting for a third: only the timer ends it.
                waitedInVain += 1
                let ended = machine.lingerEnded(writer: writer)
                #expect(ended == "a\(index) waits")
                time += .milliseconds(5)
            case .queuedResumingLingerer(let resumed):
                #expect(resumed == "a\(index) waits")
            default:
                Issue.record("expected to join: \(second)")
                return
            }
            let batch = machine.takeBatch(
                writer: writer, message: message("a"), deadline: now + time + timeout, alone: false, now: now + time)
            #expect(batch.messages.count == 2)
            _ = machine.batchFinished(writer: writer)
            time += .milliseconds(1)
        }
        #expect(waitedInVain > 3, "waiting for a third was never tried again")
        #expect(waitedInVain < 20, "\(waitedInVain) of 60 pairs waited for a third in vain")
    }

    /// A sender that waits for each answer sends again soon (its gaps are short), but no companion
    /// can come while it waits: waits that end alone make waiting rare, and it is tried again.
    @Test func aSenderWaitingForEachAnswerRarelyLingers() {
        var machine = machine(slots: 3, linger: .milliseconds(3))
        var time = warmUp(&machine, gap: .milliseconds(1))
        var lingered = 0
        for index in 0..<60 {
            let (id, submission) = submit("m\(index)", to: &machine, at: time)
            if case .linger = submission {
                lingered += 1
                let waits = machine.awaitCompanion(writer: id, waiter: "w\(index)")
                let ended = machine.lingerEnded(writer: id)
                #expect(waits && ended == "w\(index)")
                time += .milliseconds(3)
            }
            _ = machine.takeBatch(
                writer: id, message: message("m"), deadline: now + time + timeout, alone: false, now: now + time)
            _ = machine.batchFinished(writer: id)
            time += .milliseconds(1)
        }
        #expect(lingered > 3, "waiting was never tried again")
        #expect(lingered < 20, "\(lingered) of 60 messages waited for nothing")
    }
}
