import NIOCore

/// Something with at most one timer in an ``EventLoopTimerQueue``.
protocol EventLoopTimerQueueMember: AnyObject, SendableMetatype {
    /// Where the member's timer sits in its queue; only the queue sets it.
    var timerQueueIndex: Int? { get set }
    /// The timer came due. Called on the queue's event loop, with the timer already removed,
    /// so the member may arm it again.
    func timerQueueFired()
}

/// One timer per member (an Engine.IO session's heartbeat) for many members on one event loop,
/// with a single NIO scheduled task for the earliest of them.
///
/// A NIO scheduled task costs an object, a promise and its future, and a slot in the loop's
/// own heap: about 280 bytes for every idle connection, re-made at every ping and pong
/// (heaptrack, see docs/benchmarks.md). Here a timer is a deadline and a reference in an array
/// kept as a binary heap; each member knows its index, so re-arming or cancelling is
/// O(log n) with nothing allocated, and a cancelled member is let go at once.
///
/// Timers fire in deadline order, never before their deadline. Only the event loop may touch
/// the queue.
final class EventLoopTimerQueue<Member: EventLoopTimerQueueMember>: @unchecked Sendable {
    let eventLoop: any EventLoop

    private var heap: [(deadline: NIODeadline, member: Member)] = []
    /// The NIO task that fires the earliest timer, and when it is due.
    private var task: (scheduled: Scheduled<Void>, deadline: NIODeadline)?
    /// Timers are being fired: the task is armed once, after them.
    private var firing = false

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    /// How many timers are armed.
    var count: Int { heap.count }

    /// Arms `member`'s timer for `deadline`, replacing the one it had.
    func schedule(_ member: Member, at deadline: NIODeadline) {
        eventLoop.preconditionInEventLoop()
        if let index = member.timerQueueIndex {
            let earlier = deadline < heap[index].deadline
            heap[index].deadline = deadline
            if earlier { siftUp(index) } else { siftDown(index) }
        } else {
            heap.append((deadline, member))
            member.timerQueueIndex = heap.count - 1
            siftUp(heap.count - 1)
        }
        if firing { return }
        if let task, task.deadline <= deadline { return }
        armTask()
    }

    /// Disarms `member`'s timer, if it has one.
    func cancel(_ member: Member) {
        eventLoop.preconditionInEventLoop()
        guard let index = member.timerQueueIndex else { return }
        remove(at: index)
        // A task due for a timer that is gone finds nothing and re-arms for the next one.
        if heap.isEmpty, let task {
            task.scheduled.cancel()
            self.task = nil
        }
    }

    private func armTask() {
        task?.scheduled.cancel()
        guard let deadline = heap.first?.deadline else {
            task = nil
            return
        }
        let scheduled = eventLoop.scheduleTask(deadline: deadline) { [self] in fire(dueBy: deadline) }
        task = (scheduled, deadline)
    }

    /// Fires every timer due: by the task's deadline (the loop's clock said it had come) or now.
    private func fire(dueBy taskDeadline: NIODeadline) {
        task = nil
        firing = true
        let due = max(taskDeadline, eventLoop.now)
        while let first = heap.first, first.deadline <= due {
            remove(at: 0)
            first.member.timerQueueFired()
        }
        firing = false
        armTask()
    }

    private func remove(at index: Int) {
        heap[index].member.timerQueueIndex = nil
        let last = heap.count - 1
        if index != last {
            heap.swapAt(index, last)
            heap[index].member.timerQueueIndex = index
        }
        heap.removeLast()
        guard index < heap.count else { return }
        siftUp(index)
        siftDown(index)
    }

    private func siftUp(_ start: Int) {
        var index = start
        while index > 0 {
            let parent = (index - 1) / 2
            guard heap[index].deadline < heap[parent].deadline else { break }
            swap(index, parent)
            index = parent
        }
    }

    private func siftDown(_ start: Int) {
        var index = start
        while true {
            var smallest = index
            let left = 2 * index + 1
            let right = left + 1
            if left < heap.count, heap[left].deadline < heap[smallest].deadline { smallest = left }
            if right < heap.count, heap[right].deadline < heap[smallest].deadline { smallest = right }
            guard smallest != index else { return }
            swap(index, smallest)
            index = smallest
        }
    }

    private func swap(_ a: Int, _ b: Int) {
        heap.swapAt(a, b)
        heap[a].member.timerQueueIndex = a
        heap[b].member.timerQueueIndex = b
    }
}
