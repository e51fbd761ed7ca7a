import Foundation
import Logging
import ParleyChat
import ParleyDomain
import ParleyServer
import Testing

#if MongoDB
@testable import ParleyMongo
@testable import ParleyTesting
#endif

/// What only the MongoDB store does. The shared store contract, the HTTP tests and the copy
/// tests run against MongoDB too whenever `MONGODB_URI` is set (see ``StoreKind``).
@Suite("MongoDB store")
struct MongoStoreTests {
    #if MongoDB
    @Test(.enabled(if: TestMongo.uri == nil, "MONGODB_URI is set; the MongoDB contract tests run"))
    func contractTestsAreSkippedWithoutAServer() {
        // Visible in the test output: the MongoDB half of the contract did not run.
        print("note: MongoDB store contract tests skipped: MONGODB_URI is not set")
    }

    @Test func mongoDBURIChoosesTheStore() throws {
        let configuration = try ParleyConfiguration.from(variables: [
            "MONGODB_URI": "mongodb://u:p@db.example/chat", "MONGODB_POOL_SIZE": "3",
        ])
        guard case .mongodb(let uri, let size, let cluster) = configuration.store else {
            Issue.record("expected MongoDB")
            return
        }
        #expect(uri.displayName == "mongodb://db.example:27017/chat")
        #expect(size == 3)
        #expect(cluster == .auto)
    }

    @Test(arguments: [
        ["MONGODB_URI": "mongodb://"],
        ["MONGODB_URI": "mongodb://host/db?connectTimeoutMS=abc"],
        ["STORE": "mongodb"],
        ["MONGODB_URI": "mongodb://host/db", "MONGODB_CLUSTER": "sometimes"],
    ])
    func aBadURIStopsStartupNamingIt(variables: [String: String]) {
        do {
            _ = try ParleyConfiguration.from(variables: variables)
            Issue.record("accepted \(variables)")
        } catch let error as ConfigurationError {
            #expect(error.key.hasPrefix("MONGODB_"), "\(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func anUnreachableServerIsUnavailableNotAHang() async throws {
        // Nothing listens on port 1; the server selection timeout bounds the wait.
        let store = try MongoStore(
            MongoConnectionString("mongodb://127.0.0.1:1/parley?serverSelectionTimeoutMS=300"), size: 2,
            logger: Logger(label: "test"))
        await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await store.run() }
            defer { group.cancelAll() }
            let started = ContinuousClock.now
            await #expect(throws: StoreError.unavailable("The database is unavailable")) {
                try await store.checkReadiness()
            }
            await #expect(throws: StoreError.unavailable("The database is unavailable")) {
                try await store.user(email: "ann@example.com")
            }
            #expect(ContinuousClock.now - started < .seconds(10))
        }
    }

    @Test(.enabled(if: TestMongo.uri != nil, "set MONGODB_URI to run it"))
    func createsItsIndexesOnceAndKeepsThemOnRestart() async throws {
        try await withStore(.mongodb) { store in
            // Migrating again (a second instance, a restart) finds them in place.
            try await store.migrate()
            let mongo = try #require(store as? MongoStore)
            let indexes = try await mongo.call { connection in
                try connection.runCommand(["listIndexes": "users"])["cursor"]?.documentValue?["firstBatch"]?.arrayValue
                    ?? []
            }
            let email = indexes.compactMap(\.documentValue).first { $0["name"] == "email_1" }
            #expect(email?["unique"] == true)
        }
    }

    @Test(.enabled(if: TestMongo.uri != nil, "set MONGODB_URI to run it"))
    func aConversationWithAVanishedUserTakesNoPlaceInTheSidebar() async throws {
        try await withStore(.mongodb) { store in
            let mongo = try #require(store as? MongoStore)
            let (ann, bob, cat) = (Fixture.user(), Fixture.user(), Fixture.user())
            for user in [ann, bob, cat] { try await store.insertUser(user) }
            try await store.insertMessage(Fixture.message(from: bob.user.id, to: ann.user.id))
            try await store.insertMessage(Fixture.message(from: cat.user.id, to: ann.user.id))
            // Cat's document disappears (another application deleted it).
            _ = try await mongo.call { connection in
                try connection.runCommand([
                    "delete": "users", "deletes": [["q": ["_id": .objectID(cat.user.id)], "limit": 1]],
                ])
            }
            let page = try await store.sidebar(of: ann.user.id, after: nil, limit: 1)
            #expect(page.map(\.user.id) == [bob.user.id])
            #expect(page.first?.lastMessage != nil)
        }
    }
    /// A group another program wrote (no `version`), then changed behind Parley's back: Parley
    /// changes it without losing the other program's edit.
    @Test(.enabled(if: TestMongo.uri != nil, "set MONGODB_URI to run it"))
    func aGroupWrittenByAnotherProgramIsChangedWithoutLosingItsEdits() async throws {
        try await withStore(.mongodb) { store in
            let mongo = try #require(store as? MongoStore)
            let (ann, bob, cat) = (Fixture.user(), Fixture.user(), Fixture.user())
            for user in [ann, bob, cat] { try await store.insertUser(user) }
            let id = ObjectID()
            let now = BSON.date(Timestamp.now())
            func member(_ user: ObjectID, _ role: String) -> BSON {
                .document(["userId": .objectID(user), "role": .string(role), "joinedAt": now])
            }
            let owner = member(ann.user.id, "owner")
            let pushed = member(cat.user.id, "member")
            _ = try await mongo.call { connection in
                try connection.insert(
                    "groups",
                    [["_id": .objectID(id), "name": "Node's", "members": [owner], "createdAt": now, "updatedAt": now]])
            }
            let limits = GroupLimits()
            _ = try await store.changeMembership(
                of: id, .add([bob.user.id]), by: ann.user.id, at: .now(), limits: limits)
            // The other program adds Cat with $push (no version).
            _ = try await mongo.call { connection in
                try connection.update("groups", filter: ["_id": .objectID(id)], update: ["$push": ["members": pushed]])
            }
            _ = try await store.changeMembership(
                of: id, .setRole(bob.user.id, .admin), by: ann.user.id, at: .now(), limits: limits)
            let roster = try #require(try await store.group(id: id, visibleTo: cat.user.id)).members
            #expect(Set(roster.map(\.userID)) == [ann.user.id, bob.user.id, cat.user.id])
            #expect(roster.first { $0.userID == bob.user.id }?.role == .admin)
        }
    }
    #else
    @Test(.disabled("built without the MongoDB trait (swift test --traits MongoDB)"))
    func mongoDBStoreIsNotBuilt() {}
    #endif
}
