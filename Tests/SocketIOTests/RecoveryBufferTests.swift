import Testing

@testable import SocketIO

/// The in-memory recovery store's state, with a clock the tests move.
@Suite("Recovery buffer")
struct RecoveryBufferTests {
    let start = ContinuousClock.now
    let limits = RecoveryBuffer.Limits(maxDisconnectionDuration: .seconds(120), maxSessions: 3, maxPackets: 5)

    func buffer() -> RecoveryBuffer { RecoveryBuffer(limits: limits, instance: "i") }

    func session(_ pid: String = "p", rooms: Set<String> = ["s", "alice"]) -> RecoverableSession {
        RecoverableSession(sid: "s", pid: pid, namespace: "/", rooms: rooms)
    }

    func broadcast(_ text: String, to rooms: Set<String> = [], except: Set<String> = []) -> SocketBroadcast {
        SocketBroadcast(event: "m", arguments: [.string(text)], rooms: rooms, exceptRooms: except)
    }

    @Test func offsetsAreAppendedAndReplayFollowsThemInOrder() {
        var buffer = buffer()
        let seen = buffer.record(broadcast("a", to: ["alice"]), in: "/", now: start)
        #expect(seen == "i-1")
        buffer.persist(session(), now: start + .seconds(1))
        _ = buffer.record(broadcast("b", to: ["alice"]), in: "/", now: start + .seconds(2))
        _ = buffer.record(broadcast("to bob", to: ["bob"]), in: "/", now: start + .seconds(2))
        _ = buffer.record(broadcast("all but alice", except: ["alice"]), in: "/", now: start + .seconds(2))
        _ = buffer.record(broadcast("everyone"), in: "/", now: start + .seconds(3))
        _ = buffer.record(broadcast("other namespace"), in: "/chat", now: start + .seconds(3))
        let restored = buffer.restore(pid: "p", offset: seen, namespace: "/", now: start + .seconds(4))
        #expect(restored?.sid == "s")
        let missed = restored.flatMap { buffer.missedPackets(of: $0, after: seen) }
        #expect(missed == [["m", "b", "i-2"], ["m", "everyone", "i-5"]])
    }

    @Test func aMarkHoldsItsPlaceAndIsNotReplayed() {
        var buffer = buffer()
        let mark = buffer.mark(in: "/", now: start)
        buffer.persist(session(), now: start)
        _ = buffer.mark(in: "/", now: start)
        _ = buffer.record(broadcast("after"), in: "/", now: start)
        let restored = buffer.restore(pid: "p", offset: mark, namespace: "/", now: start)
        #expect(restored.flatMap { buffer.missedPackets(of: $0, after: mark) } == [["m", "after", "i-3"]])
    }

    @Test func aSessionRecoversOnce() {
        var buffer = buffer()
        let offset = buffer.record(broadcast("a"), in: "/", now: start)
        buffer.persist(session(), now: start)
        #expect(buffer.restore(pid: "p", offset: offset, namespace: "/", now: start) != nil)
        #expect(buffer.restore(pid: "p", offset: offset, namespace: "/", now: start) == nil)
    }

    @Test func nothingIsRecoveredAfterTheWindow() {
        var buffer = buffer()
        let offset = buffer.record(broadcast("a"), in: "/", now: start)
        buffer.persist(session(), now: start + .seconds(10))
        #expect(buffer.restore(pid: "p", offset: offset, namespace: "/", now: start + .seconds(131)) == nil)
        #expect(buffer.sessionCount == 0)
        #expect(buffer.packetCount == 0)
    }

    @Test func theNewestOffsetStaysReplayableWhenItsPacketHasExpired() {
        var buffer = buffer()
        let offset = buffer.record(broadcast("a"), in: "/", now: start)
        buffer.persist(session(), now: start + .seconds(100))
        // The packet is gone with the window, but nothing came after it: nothing was missed.
        let restored = buffer.restore(pid: "p", offset: offset, namespace: "/", now: start + .seconds(121))
        #expect(restored != nil)
        #expect(restored.flatMap { buffer.missedPackets(of: $0, after: offset) } == [])
    }

    @Test func anOffsetWhoseSuccessorsWereEvictedCannotRecover() {
        var buffer = buffer()
        let old = buffer.record(broadcast("0"), in: "/", now: start)
        for index in 1...6 { _ = buffer.record(broadcast("\(index)"), in: "/", now: start) }
        #expect(buffer.packetCount == 5)
        buffer.persist(session(), now: start)
        #expect(buffer.restore(pid: "p", offset: old, namespace: "/", now: start) == nil)
        // The offset just before the first packet kept is still exact.
        buffer.persist(session(), now: start)
        #expect(buffer.restore(pid: "p", offset: "i-2", namespace: "/", now: start) != nil)
        #expect(buffer.missedPackets(of: session(), after: "i-2")?.count == 5)
    }

    @Test func foreignOrMalformedOffsetsAndOtherNamespacesAreRefused() {
        var buffer = buffer()
        _ = buffer.record(broadcast("a"), in: "/", now: start)
        for offset in ["j-1", "i-9", "i-", "i-x", "", "1", "i-1-1"] {
            buffer.persist(session(), now: start)
            #expect(buffer.restore(pid: "p", offset: offset, namespace: "/", now: start) == nil, "\(offset)")
        }
        buffer.persist(session(), now: start)
        #expect(buffer.restore(pid: "p", offset: "i-1", namespace: "/chat", now: start) == nil)
    }

    @Test func theOldestSessionIsForgottenPastTheLimit() {
        var buffer = buffer()
        let offset = buffer.record(broadcast("a"), in: "/", now: start)
        for pid in ["1", "2", "3", "4"] { buffer.persist(session(pid), now: start) }
        #expect(buffer.sessionCount == 3)
        #expect(buffer.restore(pid: "1", offset: offset, namespace: "/", now: start) == nil)
        #expect(buffer.restore(pid: "4", offset: offset, namespace: "/", now: start) != nil)
    }
}
