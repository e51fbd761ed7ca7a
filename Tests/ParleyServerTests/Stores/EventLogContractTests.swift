import ParleyChat
import ParleyDomain
import Testing

@testable import ParleyTesting

/// The history stores keep for connection-state recovery (``EventLog``): every store that has
/// one (SQLite, PostgreSQL) meets this.
@Suite("Event log contract")
struct EventLogContractTests {
    @Test(arguments: StoreKind.available)
    func replaysAUsersEventsInOrderFromAnyPosition(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            guard let log = store.eventLog else { return }
            let (ann, bob, cat) = (Fixture.user(), Fixture.user(), Fixture.user())
            for record in [ann, bob, cat] { try await store.insertUser(record) }
            let events = try await heard(on: store.bus) {
                let fromBob = Fixture.message(from: bob.user.id, to: ann.user.id, text: "one")
                try await store.insertMessage(fromBob)
                try await store.insertMessage(Fixture.message(from: cat.user.id, to: ann.user.id, text: "two"))
                try await store.insertMessage(Fixture.message(from: ann.user.id, to: bob.user.id, text: "three"))
                try await store.insertMessage(Fixture.message(from: bob.user.id, to: cat.user.id, text: "not Ann's"))
                let edited = try #require(try await store.editMessage(id: fromBob.id, text: "uno", at: .now()))
                try await store.bus.publish(.messageUpdated(edited))
                try await store.bus.publish(
                    .messagesRead(ReadReceipt(by: ann.user.id, with: bob.user.id, upTo: fromBob.id, readAt: .now())))
                try await store.bus.publish(.typing(from: bob.user.id, to: ann.user.id))
            }
            // Every change to stored messages came with a position, increasing; typing without.
            let stored = events.compactMap { if case .stored(let event) = $0 { event } else { nil } }
            #expect(stored.count == 6)
            #expect(stored.map(\.position) == stored.map(\.position).sorted())
            #expect(events.last == .event(.typing(from: bob.user.id, to: ann.user.id)))

            let annsEvents = stored.filter { StoredEvent.hearers(of: $0.event)?.contains(ann.user.id) == true }
            let history = try #require(try await log.events(of: ann.user.id, after: 0, limit: 100))
            #expect(history.map(\.position) == annsEvents.map(\.position))
            #expect(history.map(\.kind) == ["message uno", "message two", "message three", "updated uno", "read"])
            #expect(
                try await log.events(of: ann.user.id, after: history[1].position, limit: 100) == Array(history[2...]))
            #expect(try await log.events(of: ann.user.id, after: 0, limit: 2) == Array(history[..<2]))
            #expect(try await log.events(of: ann.user.id, after: history[4].position, limit: 100) == [])
            #expect(try await log.latestPosition(of: ann.user.id) == history[4].position)
            #expect(try await log.latestPosition(of: cat.user.id) == stored[3].position)
            #expect(try await log.latestPosition(of: ObjectID()) == 0)
        }
    }

    /// Messages to one user from many senders at once, stored concurrently: the user hears them
    /// in increasing positions, and the history lists them in that order. (Under per-conversation
    /// locks, two senders' messages could commit in the other order than their positions.)
    @Test(arguments: StoreKind.available)
    func aUserHearsConcurrentWritesInIncreasingPositions(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            guard let log = store.eventLog else { return }
            let ann = Fixture.user()
            try await store.insertUser(ann)
            let senders = (0..<8).map { _ in Fixture.user() }
            for sender in senders { try await store.insertUser(sender) }
            let events = try await heard(on: store.bus) {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for sender in senders {
                        group.addTask {
                            for _ in 0..<40 {
                                try await store.insertMessage(Fixture.message(from: sender.user.id, to: ann.user.id))
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
            let positions = events.compactMap { if case .stored(let event) = $0 { event.position } else { nil } }
            #expect(positions.count == 320)
            #expect(positions == positions.sorted())
            #expect(try await log.events(of: ann.user.id, after: 0, limit: 1000)?.map(\.position) == positions)
        }
    }
}

extension StoredEvent {
    /// A short description, for comparing histories.
    fileprivate var kind: String {
        switch event {
        case .messageCreated(let message): "message \(message.text ?? "")"
        case .messageUpdated(let message): "updated \(message.text ?? "")"
        case .messageDeleted: "deleted"
        case .messagesRead: "read"
        default: "other"
        }
    }
}
