import NIOCore
import NIOEmbedded
import Testing

@testable import SocketIO

/// The per-loop timer queue behind Engine.IO heartbeats, on an embedded loop's clock.
@Suite("Event loop timer queue")
struct EventLoopTimerQueueTests {
    final class Member: EventLoopTimerQueueMember {
        let name: Int
        var timerQueueIndex: Int?
        var onFire: (Member) -> Void
        init(_ name: Int, onFire: @escaping (Member) -> Void) {
            self.name = name
            self.onFire = onFire
        }
        func timerQueueFired() { onFire(self) }
    }

    /// Records which member fired at what time of the loop's clock.
    final class Log {
        var fired: [(name: Int, at: NIODeadline)] = []
    }

    @Test func timersFireInDeadlineOrderAndNotBefore() {
        let loop = EmbeddedEventLoop()
        let queue = EventLoopTimerQueue<Member>(eventLoop: loop)
        let log = Log()
        let start = loop.now
        let members = (0..<3).map { name in Member(name) { log.fired.append(($0.name, loop.now)) } }
        queue.schedule(members[0], at: start + .seconds(3))
        queue.schedule(members[1], at: start + .seconds(1))
        queue.schedule(members[2], at: start + .seconds(2))
        loop.advanceTime(by: .milliseconds(999))
        #expect(log.fired.isEmpty)
        loop.advanceTime(by: .milliseconds(1))
        #expect(log.fired.map(\.name) == [1])
        loop.advanceTime(by: .seconds(5))
        #expect(log.fired.map(\.name) == [1, 2, 0])
        #expect(log.fired.map(\.at) == [start + .seconds(1), start + .seconds(2), start + .seconds(3)])
        #expect(queue.count == 0)
        #expect(members.allSatisfy { $0.timerQueueIndex == nil })
    }

    @Test func reArmingMovesATimerAndCancellingRemovesIt() {
        let loop = EmbeddedEventLoop()
        let queue = EventLoopTimerQueue<Member>(eventLoop: loop)
        let log = Log()
        let start = loop.now
        let a = Member(0) { log.fired.append(($0.name, loop.now)) }
        let b = Member(1) { log.fired.append(($0.name, loop.now)) }
        queue.schedule(a, at: start + .seconds(1))
        queue.schedule(b, at: start + .seconds(2))
        queue.schedule(a, at: start + .seconds(5))  // later than it was
        queue.schedule(b, at: start + .milliseconds(500))  // earlier than it was
        loop.advanceTime(by: .seconds(1))
        #expect(log.fired.map(\.name) == [1])
        #expect(log.fired.map(\.at) == [start + .milliseconds(500)])
        queue.cancel(a)
        queue.cancel(a)  // twice is harmless
        loop.advanceTime(by: .seconds(10))
        #expect(log.fired.map(\.name) == [1])
        #expect(queue.count == 0)
    }

    @Test func aCancelledMemberIsLetGoAtOnce() {
        let loop = EmbeddedEventLoop()
        let queue = EventLoopTimerQueue<Member>(eventLoop: loop)
        weak var weakMember: Member?
        do {
            let member = Member(0) { _ in }
            weakMember = member
            queue.schedule(member, at: loop.now + .seconds(25))
            queue.cancel(member)
        }
        #expect(weakMember == nil)
    }

    @Test func aMemberMayReArmFromItsOwnTimer() {
        let loop = EmbeddedEventLoop()
        let queue = EventLoopTimerQueue<Member>(eventLoop: loop)
        let log = Log()
        let start = loop.now
        let member = Member(0) { member in
            log.fired.append((member.name, loop.now))
            if log.fired.count < 3 { queue.schedule(member, at: loop.now + .seconds(1)) }
        }
        queue.schedule(member, at: start + .seconds(1))
        loop.advanceTime(by: .seconds(10))
        #expect(log.fired.map(\.at) == [start + .seconds(1), start + .seconds(2), start + .seconds(3)])
    }

    /// Many members armed, re-armed and cancelled at random: each fires once, at its last
    /// deadline, in order; the cancelled never fire.
    @Test func manyTimersInAnyOrder() {
        let loop = EmbeddedEventLoop()
        let queue = EventLoopTimerQueue<Member>(eventLoop: loop)
        let log = Log()
        let start = loop.now
        var generator = SystemRandomNumberGenerator()
        let members = (0..<500).map { name in Member(name) { log.fired.append(($0.name, loop.now)) } }
        var expected: [Int: NIODeadline] = [:]
        for _ in 0..<2_000 {
            let member = members[Int.random(in: 0..<members.count, using: &generator)]
            if Int.random(in: 0..<5, using: &generator) == 0 {
                queue.cancel(member)
                expected[member.name] = nil
            } else {
                let deadline = start + .milliseconds(Int64.random(in: 1...10_000, using: &generator))
                queue.schedule(member, at: deadline)
                expected[member.name] = deadline
            }
        }
        #expect(queue.count == expected.count)
        for _ in 0..<120 { loop.advanceTime(by: .milliseconds(100)) }
        #expect(log.fired.count == expected.count)
        #expect(Set(log.fired.map(\.name)) == Set(expected.keys))
        for (name, at) in log.fired {
            #expect(at >= expected[name]!)
            #expect(at < expected[name]! + .milliseconds(100))
        }
        #expect(zip(log.fired, log.fired.dropFirst()).allSatisfy { expected[$0.name]! <= expected[$1.name]! })
    }
}
