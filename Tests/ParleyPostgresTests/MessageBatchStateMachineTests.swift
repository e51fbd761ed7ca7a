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

    func machine(slots: Int = 2, batch: Int = 3) -> Machine {
        Machine(maximumBatch: batch, maximumConcurrentBatches: slots, timeout: timeout)
    }

    func message(_ text: String) -> Message {
        Fixture.message(from: ObjectID(), to: ObjectID(), text: text)
    }

    /// Submits a message; returns its id and whether its sender writes now.
    func submit(_ text: String, to machine: inout Machine, deadline: Duration = .seconds(8)) -> (UInt64, Bool) {
        let id = machine.makeID()
        return (id, machine.submit(id: id, message: message(text), deadline: now + deadline, waiter: text))
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
}
