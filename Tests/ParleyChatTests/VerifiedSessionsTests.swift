import ParleyDomain
import Testing

@testable import ParleyChat
@testable import ParleyTesting

@Suite("Verified sessions")
struct VerifiedSessionsTests {
    static func session(_ token: String, expiresAt: Int64 = 2_000_000_000_000) -> SessionToken {
        SessionToken(
            token: token, userID: ObjectID(), issuedAt: Timestamp(millisecondsSince1970: 1_700_000_000_000),
            expiresAt: Timestamp(millisecondsSince1970: expiresAt))
    }

    @Test func remembersAVerifiedTokenUntilItsRecheck() {
        let sessions = VerifiedSessions()
        let start = ContinuousClock.now
        let session = Self.session("a.b.c")
        let now = Timestamp(millisecondsSince1970: 1_800_000_000_000)
        #expect(sessions.session(for: "a.b.c", now: start, time: now) == nil)
        sessions.remember(session, now: start)
        #expect(sessions.session(for: "a.b.c", now: start + .seconds(59), time: now) == session)
        #expect(sessions.session(for: "a.b.C", now: start, time: now) == nil)
        #expect(sessions.session(for: "a.b.c", now: start + VerifiedSessions.recheckInterval, time: now) == nil)
    }

    @Test func neverAnswersWithAnExpiredToken() {
        let sessions = VerifiedSessions()
        let start = ContinuousClock.now
        sessions.remember(Self.session("t", expiresAt: 1_800_000_000_000), now: start)
        #expect(
            sessions.session(for: "t", now: start, time: Timestamp(millisecondsSince1970: 1_799_999_999_999)) != nil)
        #expect(
            sessions.session(for: "t", now: start, time: Timestamp(millisecondsSince1970: 1_800_000_000_000)) == nil)
    }

    @Test func staysWithinItsCapacity() {
        let sessions = VerifiedSessions()
        let start = ContinuousClock.now
        let now = Timestamp(millisecondsSince1970: 1_800_000_000_000)
        for index in 0..<VerifiedSessions.capacity {
            sessions.remember(Self.session("old\(index)"), now: start)
        }
        #expect(sessions.count == VerifiedSessions.capacity)
        // Full of fresh entries: everything goes, then the new one is remembered.
        sessions.remember(Self.session("new"), now: start)
        #expect(sessions.count == 1)
        // Full again, half of it stale by the time the next one comes: only the stale half goes.
        let half = VerifiedSessions.capacity / 2
        for index in 0..<half {
            sessions.remember(Self.session("stale\(index)"), now: start)
        }
        for index in 0..<(VerifiedSessions.capacity - half - 1) {
            sessions.remember(Self.session("later\(index)"), now: start + VerifiedSessions.recheckInterval)
        }
        #expect(sessions.count == VerifiedSessions.capacity)
        let then = start + VerifiedSessions.recheckInterval + .seconds(1)
        sessions.remember(Self.session("newest"), now: then)
        #expect(sessions.count == VerifiedSessions.capacity - half)
        #expect(sessions.session(for: "later0", now: then, time: now) != nil)
        #expect(sessions.session(for: "newest", now: then, time: now) != nil)
        #expect(sessions.session(for: "stale0", now: start, time: now) == nil)
    }
}
