import ParleyChat
import ParleyDomain
import Synchronization
import Testing

@testable import ParleyTesting

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The contract every store implementation must meet. Runs against SQLite always and against
/// PostgreSQL when the test command provides one.
@Suite("Store contract")
struct StoreContractTests {
    @Test(arguments: StoreKind.available)
    func insertsAndFindsUsersByIDAndEmail(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let record = Fixture.user(email: "ann@example.com")
            try await store.insertUser(record)
            #expect(try await store.user(id: record.user.id) == record)
            #expect(try await store.user(email: "ann@example.com") == record)
            #expect(try await store.user(email: "nobody@example.com") == nil)
            #expect(try await store.user(id: ObjectID()) == nil)
        }
    }

    /// What one call stored, the next call sees, however many readers are busy meanwhile. (On
    /// SQLite, overlapping reads on one shared connection kept its read transaction, and so its
    /// snapshot, open: a user who had just signed up could not log in.)
    @Test(arguments: StoreKind.available)
    func readsSeeEveryCommittedWriteUnderConcurrentReads(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let writersDone = ManagedAtomicFlag()
            try await withThrowingTaskGroup(of: Int.self) { group in
                // Readers that keep the store busy the whole time.
                for _ in 0..<8 {
                    group.addTask {
                        while !writersDone.isSet { _ = try await store.users(excluding: ObjectID()) }
                        return 0
                    }
                }
                let writers = try await withThrowingTaskGroup(of: Int.self) { writers in
                    for worker in 0..<16 {
                        writers.addTask {
                            var missed = 0
                            for round in 0..<40 {
                                let record = Fixture.user(email: "w\(worker)-\(round)@example.com")
                                try await store.insertUser(record)
                                if try await store.user(email: record.user.email) == nil { missed += 1 }
                                if try await store.user(id: record.user.id) == nil { missed += 1 }
                            }
                            return missed
                        }
                    }
                    var missed = 0
                    for try await count in writers { missed += count }
                    return missed
                }
                writersDone.set()
                try await group.waitForAll()
                #expect(writers == 0)
            }
        }
    }

    @Test(arguments: StoreKind.available)
    func revokedTokensAndLoggingOutEverywhereAreRecordedAndReadBack(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let ann = Fixture.user()
            try await store.insertUser(ann)
            let start = Timestamp(millisecondsSince1970: 1_800_000_000_000)
            let revocation = TokenRevocation(
                fingerprint: "ab12", userID: ann.user.id, expiresAt: start.adding(milliseconds: 60_000),
                revokedAt: start)
            try await store.revokeToken(revocation)
            try await store.revokeToken(revocation)  // twice is harmless
            #expect(try await store.isTokenRevoked(fingerprint: "ab12"))
            #expect(try await !store.isTokenRevoked(fingerprint: "cd34"))

            #expect(try await store.revokeSessions(of: ann.user.id, upTo: start.adding(milliseconds: 5)))
            // An earlier time does not undo a later revocation.
            #expect(try await store.revokeSessions(of: ann.user.id, upTo: start))
            #expect(try await store.user(id: ann.user.id)?.sessionsRevokedAt == start.adding(milliseconds: 5))
            #expect(try await !store.revokeSessions(of: ObjectID(), upTo: start))

            let recent = try await store.revocations(since: start)
            #expect(
                Set(recent) == [
                    .token(fingerprint: "ab12"), .sessions(of: ann.user.id, upTo: start.adding(milliseconds: 5)),
                ])
            #expect(try await store.revocations(since: start.adding(milliseconds: 10)).isEmpty)

            try await store.pruneTokenRevocations(expiredBefore: start.adding(milliseconds: 60_001))
            #expect(try await !store.isTokenRevoked(fingerprint: "ab12"))
        }
    }

    @Test(arguments: StoreKind.available)
    func aDeletedUserLeavesATombstoneAndFreesTheEmail(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            var ann = Fixture.user(email: "ann@example.com")
            ann.avatarMediaID = "avatar-1"
            let bob = Fixture.user(email: "bob@example.com")
            try await store.insertUser(ann)
            try await store.insertUser(bob)
            try await store.insertMessage(Fixture.message(from: ann.user.id, to: bob.user.id))
            let time = Timestamp(millisecondsSince1970: 1_800_000_000_000)

            let previous = try #require(try await store.deleteUser(id: ann.user.id, at: time))
            #expect(previous.avatarMediaID == "avatar-1")
            #expect(try await store.deleteUser(id: ann.user.id, at: time) == nil)

            let tombstone = try #require(try await store.user(id: ann.user.id))
            #expect(tombstone == ann.tombstone(at: time))
            #expect(tombstone.revokes(tokenIssuedAt: time.adding(milliseconds: 60_000)))
            #expect(try await store.user(email: "ann@example.com") == nil)
            // The email is free; the deleted user is nobody's contact outside a conversation.
            try await store.insertUser(Fixture.user(email: "ann@example.com"))
            #expect(try await !store.users(excluding: bob.user.id).contains { $0.id == ann.user.id })
            // The conversation stays, from a deleted user.
            let sidebar = try await store.sidebar(of: bob.user.id, after: nil, limit: nil)
            let entry = try #require(sidebar.first { $0.user.id == ann.user.id })
            #expect(entry.userDeleted)
            #expect(entry.lastMessage != nil)
            #expect(try await store.conversation(ConversationQuery(user: bob.user.id, peer: ann.user.id)).count == 1)
        }
    }

    @Test(arguments: StoreKind.available)
    func refusesAMessageBetweenUnknownUsers(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let ann = Fixture.user()
            try await store.insertUser(ann)
            await #expect(throws: StoreError.unknownUser) {
                try await store.insertMessage(Fixture.message(from: ann.user.id, to: ObjectID()))
            }
            await #expect(throws: StoreError.unknownUser) {
                try await store.insertMessage(Fixture.message(from: ObjectID(), to: ann.user.id))
            }
        }
    }

    @Test(arguments: StoreKind.available)
    func refusesADuplicateEmail(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await store.insertUser(Fixture.user(email: "dup@example.com"))
            await #expect(throws: StoreError.duplicateEmail) {
                try await store.insertUser(Fixture.user(email: "dup@example.com"))
            }
        }
    }

    @Test(arguments: StoreKind.available)
    func keepsTimestampsAndHashesExactly(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            var record = Fixture.user(
                hash: "$2a$10$gH0pkLx3BFrBky2Fox1ofu0OJUdgkOjYcPU.0J9769lqmPyyKgySe",
                at: Timestamp(millisecondsSince1970: 1_699_999_999_999)
            )
            record.user.updatedAt = Timestamp(millisecondsSince1970: 1_700_000_000_001)
            try await store.insertUser(record)
            let loaded = try #require(try await store.user(id: record.user.id))
            #expect(loaded.user.createdAt.millisecondsSince1970 == 1_699_999_999_999)
            #expect(loaded.user.updatedAt.millisecondsSince1970 == 1_700_000_000_001)
            #expect(loaded.passwordHash == record.passwordHash)
        }
    }

    @Test(arguments: StoreKind.available)
    func updatesReturnThePreviousAndUpdatedRecord(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            var record = Fixture.user(name: "Ann")
            record.user.avatar = "/uploads/old.png"
            record.avatarMediaID = "old.png"
            try await store.insertUser(record)
            let time = Timestamp(millisecondsSince1970: 1_800_000_000_000)

            let renamed = try #require(
                try await store.updateUser(id: record.user.id, changes: .init(name: "Anna"), at: time))
            #expect(renamed.previous.user.name == "Ann")
            #expect(renamed.updated.user.name == "Anna")
            #expect(renamed.updated.user.avatar == "/uploads/old.png")
            #expect(renamed.updated.avatarMediaID == "old.png")
            #expect(renamed.updated.user.updatedAt == time)

            let changes = UserChanges(avatar: MediaReference(url: "/uploads/new.png", mediaID: "new.png"))
            let reavatared = try #require(try await store.updateUser(id: record.user.id, changes: changes, at: time))
            #expect(reavatared.previous.avatarMediaID == "old.png")
            #expect(reavatared.updated.avatarMediaID == "new.png")
            #expect(reavatared.updated.user.name == "Anna")
            #expect(try await store.user(id: record.user.id)?.user.avatar == "/uploads/new.png")

            let cleared = try #require(
                try await store.updateUser(id: record.user.id, changes: .init(avatar: .removed), at: time))
            #expect(cleared.updated.user.avatar == "")
            #expect(cleared.updated.avatarMediaID == nil)

            #expect(try await store.updateUser(id: ObjectID(), changes: .init(name: "X"), at: time) == nil)
        }
    }

    @Test(arguments: StoreKind.available)
    func listsOtherUsersByName(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let me = Fixture.user(name: "Me")
            let zed = Fixture.user(name: "Zed")
            let bob = Fixture.user(name: "Bob")
            for record in [me, zed, bob] { try await store.insertUser(record) }
            let others = try await store.users(excluding: me.user.id)
            #expect(others.map(\.name) == ["Bob", "Zed"])
        }
    }

    @Test(arguments: StoreKind.available)
    func pagesAConversationOldestFirst(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let ann = Fixture.user(name: "Ann")
            let bob = Fixture.user(name: "Bob")
            let cat = Fixture.user(name: "Cat")
            for record in [ann, bob, cat] { try await store.insertUser(record) }
            var sent: [Message] = []
            for index in 0..<10 {
                let (from, to) = index.isMultiple(of: 2) ? (ann.user.id, bob.user.id) : (bob.user.id, ann.user.id)
                let message = Fixture.message(from: from, to: to, text: "m\(index)")
                try await store.insertMessage(message)
                sent.append(message)
                // Another conversation interleaved: must never show up.
                try await store.insertMessage(Fixture.message(from: ann.user.id, to: cat.user.id, text: "other"))
            }
            let all = try await store.conversation(ConversationQuery(user: ann.user.id, peer: bob.user.id))
            #expect(all == sent)
            let fromBobsSide = try await store.conversation(ConversationQuery(user: bob.user.id, peer: ann.user.id))
            #expect(fromBobsSide == sent)

            let newest = try await store.conversation(ConversationQuery(user: ann.user.id, peer: bob.user.id, limit: 3))
            #expect(newest.map(\.text) == ["m7", "m8", "m9"])
            let before = try await store.conversation(
                ConversationQuery(user: ann.user.id, peer: bob.user.id, before: sent[7].id, limit: 3)
            )
            #expect(before.map(\.text) == ["m4", "m5", "m6"])
            let after = try await store.conversation(
                ConversationQuery(user: ann.user.id, peer: bob.user.id, after: sent[2].id, limit: 3)
            )
            #expect(after.map(\.text) == ["m3", "m4", "m5"])
            let between = try await store.conversation(
                ConversationQuery(user: ann.user.id, peer: bob.user.id, before: sent[6].id, after: sent[2].id)
            )
            #expect(between.map(\.text) == ["m3", "m4", "m5"])
            let pastTheEnd = try await store.conversation(
                ConversationQuery(user: ann.user.id, peer: bob.user.id, after: sent[9].id)
            )
            #expect(pastTheEnd.isEmpty)
        }
    }

    @Test(arguments: StoreKind.available)
    func refusesACursorFromAnotherConversation(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let ann = Fixture.user()
            let bob = Fixture.user()
            let cat = Fixture.user()
            for record in [ann, bob, cat] { try await store.insertUser(record) }
            let foreign = Fixture.message(from: bob.user.id, to: cat.user.id)
            try await store.insertMessage(foreign)
            await #expect(throws: StoreError.cursorNotFound) {
                try await store.conversation(
                    ConversationQuery(user: ann.user.id, peer: bob.user.id, before: foreign.id))
            }
            await #expect(throws: StoreError.cursorNotFound) {
                try await store.conversation(ConversationQuery(user: ann.user.id, peer: bob.user.id, after: ObjectID()))
            }
        }
    }

    @Test(arguments: StoreKind.available)
    func keepsMessageFieldsExactly(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let ann = Fixture.user()
            let bob = Fixture.user()
            for record in [ann, bob] { try await store.insertUser(record) }
            let textOnly = Fixture.message(
                from: ann.user.id, to: bob.user.id, text: "héllo 👋\nline",
                at: .init(millisecondsSince1970: 1_700_000_000_007))
            let imageOnly = Fixture.message(
                from: bob.user.id, to: ann.user.id, text: nil, image: "https://img.example/a.png")
            try await store.insertMessage(textOnly)
            try await store.insertMessage(imageOnly)
            let page = try await store.conversation(ConversationQuery(user: ann.user.id, peer: bob.user.id))
            #expect(page == [textOnly, imageOnly])
            #expect(page[1].text == nil)
            #expect(page[1].imageMediaID == imageOnly.imageMediaID)
        }
    }

    /// Milliseconds whose `Date`, sent as postgres-nio sends one (floating-point seconds truncated
    /// to microseconds), arrives a microsecond early.
    static let awkwardMilliseconds: [Int64] = Array(
        (Int64(1_700_000_000_000)...).lazy.filter { milliseconds in
            let date = Timestamp(millisecondsSince1970: milliseconds).date
            let sent = Int64(date.timeIntervalSince(Date(timeIntervalSince1970: 946_684_800)) * 1_000_000)
            return sent != (milliseconds - 946_684_800_000) * 1000
        }
        .prefix(3))

    @Test(arguments: StoreKind.available)
    func changesAfterATimeLeaveOutThatVeryMillisecond(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            for milliseconds in Self.awkwardMilliseconds {
                let (ann, bob) = (Fixture.user(), Fixture.user())
                for record in [ann, bob] { try await store.insertUser(record) }
                let time = Timestamp(millisecondsSince1970: milliseconds)
                let message = Fixture.message(from: ann.user.id, to: bob.user.id, at: time)
                try await store.insertMessage(message)
                var query = ConversationQuery(user: bob.user.id, peer: ann.user.id)
                query.updatedAfter = time
                #expect(try await store.conversation(query).isEmpty)
                query.updatedAfter = time.adding(milliseconds: -1)
                #expect(try await store.conversation(query) == [message])
            }
        }
    }

    @Test(arguments: StoreKind.available)
    func isReadyWhileRunning(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            try await store.checkReadiness()
        }
    }

    @Test(arguments: StoreKind.available)
    func migratingTwiceChangesNothing(kind: StoreKind) async throws {
        try await withStore(kind) { store in
            let record = Fixture.user()
            try await store.insertUser(record)
            try await store.migrate()
            try await store.migrate()
            #expect(try await store.user(id: record.user.id) == record)
        }
    }

    @Test(.enabled(if: TestPostgres.adminURL == nil, "PostgreSQL is configured; its contract tests run instead"))
    func postgresContractTestsAreSkipped() {
        // Visible in the test output: the PostgreSQL half of the contract did not run.
        print("note: PostgreSQL store contract tests skipped: PARLEY_TEST_DATABASE_URL is not set")
    }
}

/// A flag one task sets and others poll.
final class ManagedAtomicFlag: Sendable {
    private let value = Atomic(false)
    var isSet: Bool { value.load(ordering: .acquiring) }
    func set() { value.store(true, ordering: .releasing) }
}
