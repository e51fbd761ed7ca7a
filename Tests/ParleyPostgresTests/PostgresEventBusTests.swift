import Logging
import ParleyDomain
import PostgresNIO
import ServiceLifecycle
import Synchronization
import Testing

@testable import ParleyPostgres
@testable import ParleyTesting

/// The LISTEN/NOTIFY bus: what happens to an event too large for a notification when it cannot
/// be read back.
@Suite("PostgreSQL event bus")
struct PostgresEventBusTests {
    struct Refused: Error {}

    /// Runs `read` through ``PostgresEventBus/read(attempts:backoff:logger:_:)`` with no wait
    /// between tries; returns its result and how many times `read` was called.
    static func reading(attempts: Int, _ outcomes: [Result<String?, Refused>]) async -> (String?, Int) {
        let calls = Mutex(0)
        let result = await PostgresEventBus.read(attempts: attempts, backoff: .zero, logger: .quiet) {
            let call = calls.withLock { calls in
                defer { calls += 1 }
                return calls
            }
            return try outcomes[min(call, outcomes.count - 1)].get()
        }
        return (result, calls.withLock { $0 })
    }

    @Test func aReadThatFailsIsTriedAgain() async {
        let (payload, calls) = await Self.reading(
            attempts: 4, [.failure(Refused()), .failure(Refused()), .success("e")])
        #expect(payload == "e")
        #expect(calls == 3)
    }

    @Test func aReadThatKeepsFailingGivesUpAfterItsAttempts() async {
        let (payload, calls) = await Self.reading(attempts: 4, [.failure(Refused())])
        #expect(payload == nil)
        #expect(calls == 4)
    }

    @Test func aPayloadThatIsGoneIsNotReadAgain() async {
        let (payload, calls) = await Self.reading(attempts: 4, [.success(nil), .success("late")])
        #expect(payload == nil)
        #expect(calls == 1)
    }

    /// A notification naming a spilled payload that is not there (cleaned up, or never
    /// committed): subscribers hear that events were lost, between the events around it.
    @Test(
        .timeLimit(.minutes(1)),
        .enabled(if: TestPostgres.adminURL != nil, "set PARLEY_TEST_DATABASE_URL (scripts/test does)"))
    func aSpilledEventThatCannotBeReadResynchronises() async throws {
        let url = try PostgresConnectionURL(try await TestPostgres.freshDatabaseURL())
        let store = PostgresStore(url: url, maximumConnections: 2, logger: .quiet)
        let services = ServiceGroup(services: store.services, logger: .quiet)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await services.run() }
            defer { group.cancelAll() }
            try await store.migrate()
            let (ann, bob) = (ObjectID(), ObjectID())
            let deliveries = try await heard(on: store.bus) {
                try await store.bus.publish(.typing(from: ann, to: bob))
                try await store.client.query(
                    "SELECT pg_notify(\(PostgresEventBus.channel), \(#"{"spill":9223372036854775807}"#))",
                    logger: .quiet)
                try await store.bus.publish(.stopTyping(from: ann, to: bob))
            }
            // Presence may resynchronise too (as the store starts): the events in order, and the
            // loss announced between them.
            let (typing, stop) = (
                BusDelivery.event(.typing(from: ann, to: bob)), BusDelivery.event(.stopTyping(from: ann, to: bob))
            )
            #expect(deliveries.filter { $0 != .resynchronized } == [typing, stop])
            let between = deliveries.drop { $0 != typing }.prefix { $0 != stop }
            #expect(between.contains(.resynchronized))
        }
    }
}
