import ParleyDomain
import Testing

@testable import ParleyServer

@Suite("Recovery: session ids and marks")
struct RecoverySessionIDTests {
    let signer = RecoverySessionID.Signer(secret: "a-test-secret-that-is-long-enough-for-hs256")

    @Test func aSignedSessionIDNamesItsSocketAndUser() throws {
        let id = RecoverySessionID(sid: "q_cCHdpivQQtuV8eFzPl", user: ObjectID())
        let pid = signer.encode(id)
        #expect(signer.decode(pid) == id)
        // Another secret's signer does not know it.
        #expect(RecoverySessionID.Signer(secret: "another-secret-that-is-long-enough-too").decode(pid) == nil)
    }

    @Test(arguments: [
        "", "nobody", "a.b.c", "..", "q_cCHdpivQQtuV8eFzPl.6b146c10b6ec89728cb95147",
        "q_cCHdpivQQtuV8eFzPl.6b146c10b6ec89728cb95147.7a71e1767778e7aa43da72bee81dd739.x",
        "q_cCHd%ivQQtuV8eFzPl.6b146c10b6ec89728cb95147.7a71e1767778e7aa43da72bee81dd739",
        String(repeating: "a", count: 65) + ".6b146c10b6ec89728cb95147.7a71e1767778e7aa43da72bee81dd739",
        "q_cCHdpivQQtuV8eFzPl.6b146c10b6ec89728cb9514.7a71e1767778e7aa43da72bee81dd739",
        "q_cCHdpivQQtuV8eFzPl.6b146c10b6ec89728cb95147.7a71e1767778e7aa43da72bee81dd73",
        "q_cCHdpivQQtuV8eFzPl.6b146c10b6ec89728cb95147.7a71e1767778e7aa43da72bee81dd73\u{e9}",
    ])
    func malformedSessionIDsAreUnknown(pid: String) {
        #expect(signer.decode(pid) == nil)
    }

    @Test func anAlteredSessionIDIsUnknown() {
        let pid = signer.encode(RecoverySessionID(sid: "q_cCHdpivQQtuV8eFzPl", user: ObjectID()))
        // Another user, another socket, another signature: each part is covered.
        let parts = pid.split(separator: ".").map(String.init)
        #expect(signer.decode([parts[0], ObjectID().hexString, parts[2]].joined(separator: ".")) == nil)
        #expect(signer.decode(["A" + parts[0].dropFirst(), parts[1], parts[2]].joined(separator: ".")) == nil)
        let flipped = parts[2].last == "0" ? "1" : "0"
        #expect(signer.decode([parts[0], parts[1], parts[2].dropLast() + flipped].joined(separator: ".")) == nil)
    }

    @Test func aMarkIsNeverBehindAnEventAlreadyDelivered() {
        let marks = RecoveryMarks()
        let (ann, bob) = (ObjectID(), ObjectID())
        var sent: [String] = []
        marks.delivered(40, to: [ann, bob]) { _, _ in sent.append("event 40") }
        marks.mark(for: ann, stored: 30) { sent.append("mark \($0)") }
        marks.mark(for: ann, stored: 50) { sent.append("mark \($0)") }
        marks.mark(for: ObjectID(), stored: 7) { sent.append("mark \($0)") }
        marks.delivered(20, to: [bob]) { _, _ in sent.append("event 20") }
        marks.mark(for: bob, stored: 0) { sent.append("mark \($0)") }
        #expect(sent == ["event 40", "mark 40", "mark 50", "mark 7", "event 20", "mark 40"])
    }

    /// After the bus lost events: what each user had heard (events and marks) when the loss was
    /// noticed, and the first event newer than that delivered to each since, which tells what the
    /// bus lost from what it brought afterwards. Until a user is decided about, their events go
    /// without an offset.
    @Test func aGapKeepsWhatWasHeardAndTheFirstEventDeliveredAfter() {
        let marks = RecoveryMarks()
        let (ann, bob, cat, dan) = (ObjectID(), ObjectID(), ObjectID(), ObjectID())
        marks.delivered(40, to: [ann, bob]) { _, _ in }
        marks.mark(for: cat, stored: 12) { _ in }
        let gap = marks.follow([ann, bob, cat, dan])
        #expect(gap.heard == [ann: 40, bob: 40, cat: 12, dan: nil])
        // A mark is not an event: it says nothing of what the bus brings.
        marks.mark(for: ann, stored: 45) { _ in }
        // An old notification handed to the new LISTEN is not news.
        var undecided: [[ObjectID]] = []
        marks.delivered(40, to: [ann]) { _, users in undecided.append(users) }
        marks.delivered(47, to: [ann]) { _, users in undecided.append(users) }
        marks.delivered(48, to: [ann, cat]) { _, users in undecided.append(users) }
        let eve = ObjectID()
        marks.delivered(49, to: [eve]) { _, users in undecided.append(users) }
        #expect(undecided == [[ann], [ann], [ann, cat], []])
        #expect(marks.firstDelivered(to: ann, since: gap) == 47)
        #expect(marks.firstDelivered(to: cat, since: gap) == 48)
        #expect(marks.firstDelivered(to: bob, since: gap) == nil)
        // Decided: events carry their offset to that user again.
        marks.decided(ann, in: gap)
        marks.delivered(50, to: [ann, bob]) { _, users in undecided.append(users) }
        #expect(undecided.last == [bob])
        // Each gap has its own firsts; users it does not follow are not noted.
        let later = marks.follow([bob, ObjectID()])
        marks.delivered(51, to: [bob]) { _, _ in }
        #expect(marks.firstDelivered(to: bob, since: gap) == 50)
        #expect(marks.firstDelivered(to: bob, since: later) == 51)
        marks.stopFollowing(gap)
        #expect(marks.firstDelivered(to: ann, since: gap) == nil)
        marks.delivered(52, to: [ann, bob, cat]) { _, users in undecided.append(users) }
        #expect(undecided.last == [bob])
        marks.stopFollowing(later)
        marks.delivered(53, to: [bob]) { _, users in undecided.append(users) }
        #expect(undecided.last == [])
    }

    /// The database is ahead of the bus: what a replay read is not sent again when the bus
    /// brings it, and once the bus is past the replay the socket gets everything.
    @Test func aRecoveredSocketIsNotSentAgainWhatItsReplayHad() {
        let marks = RecoveryMarks()
        let (ann, bob) = (ObjectID(), ObjectID())
        marks.replayed("ann-phone", of: ann, upTo: 50)
        var excepted: [[String]] = []
        for position in [45, 50] as [Int64] {
            marks.delivered(position, to: [bob, ann]) { except, _ in excepted.append(except) }
        }
        marks.delivered(51, to: [ann]) { except, _ in excepted.append(except) }
        marks.delivered(52, to: [ann]) { except, _ in excepted.append(except) }
        marks.replayed("ann-laptop", of: ann, upTo: 60)
        marks.forget("ann-laptop", of: ann)
        marks.delivered(53, to: [ann]) { except, _ in excepted.append(except) }
        #expect(excepted == [["ann-phone"], ["ann-phone"], [], [], []])
    }

    @Test func aBarrierPassesWhenTheBusBringsItBack() async throws {
        let bus = InProcessBus()
        let barrier = BusBarrier(bus: bus)
        let subscription = bus.subscribe { delivery in
            if case .event(.barrier(let token)) = delivery { barrier.arrived(token) }
        }
        defer { subscription.cancel() }
        #expect(await barrier.pass())
        // A bus that never brings it back: the barrier gives up after its timeout.
        #expect(await BusBarrier(bus: InProcessBus(), timeout: .milliseconds(10)).pass() == false)
    }
}
