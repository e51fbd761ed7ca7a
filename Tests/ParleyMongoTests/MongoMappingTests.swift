#if MongoDB
import ParleyChat
import ParleyDomain
import Testing

@testable import ParleyMongo
@testable import ParleyTesting

/// Documents in the Node app's Mongoose shape, and the commands the store sends: no server needed.
@Suite("MongoDB documents and queries")
struct MongoMappingTests {
    static let userID = ObjectID("65a1b2c3d4e5f60718293a4b")!
    static let peerID = ObjectID("65a1b2c3d4e5f60718293a4c")!

    /// A user exactly as the Node app's Mongoose model saves it, plus a field Parley does not know.
    static let nodeUser: BSONDocument = [
        "_id": .objectID(userID), "name": "Ann", "email": "ann@example.com",
        "password": "$2a$10$gH0pkLx3BFrBky2Fox1ofu0OJUdgkOjYcPU.0J9769lqmPyyKgySe",
        "createdAt": .date(1_700_000_000_123), "updatedAt": .date(1_700_000_000_456), "__v": 0,
        "bio": "extra fields are ignored",
    ]

    @Test func readsANodeAppUser() throws {
        let record = try MongoDocuments.userRecord(Self.nodeUser)
        #expect(record.user.id == Self.userID)
        #expect(record.user.avatar == "", "no avatar field means no avatar")
        #expect(record.passwordHash.hasPrefix("$2a$10$"))
        #expect(record.user.createdAt.millisecondsSince1970 == 1_700_000_000_123)
        #expect(record.user.updatedAt.millisecondsSince1970 == 1_700_000_000_456)
        #expect(record.avatarMediaID == nil)
    }

    @Test func writesUsersInTheNodeAppsShape() throws {
        var record = try MongoDocuments.userRecord(Self.nodeUser)
        record.user.avatar = "https://example.com/a.png"
        let document = MongoDocuments.document(record)
        #expect(document.keys == ["_id", "name", "email", "password", "avatar", "createdAt", "updatedAt", "__v"])
        #expect(document["_id"] == .objectID(Self.userID))
        #expect(document["createdAt"] == .date(1_700_000_000_123))
        #expect(document["__v"] == .int32(0))
        #expect(try MongoDocuments.userRecord(document) == record)
        record.avatarMediaID = "parley/abc"
        #expect(MongoDocuments.document(record)["avatarMediaId"] == "parley/abc")
    }

    @Test func missingTimestampsFallBackToTheIdsTime() throws {
        var document = Self.nodeUser
        document["createdAt"] = nil
        document["updatedAt"] = nil
        let record = try MongoDocuments.userRecord(document)
        #expect(record.user.createdAt.millisecondsSince1970 == Int64(Self.userID.seconds) * 1000)
        #expect(record.user.updatedAt == record.user.createdAt)
    }

    @Test(arguments: [
        ("email", BSON?.none, "email is missing"),
        ("password", BSON?.none, "password is missing"),
        ("_id", BSON.string("not-an-id"), "_id is not an ObjectId"),
        ("_id", BSON.int32(7), "_id is a int, not an ObjectId"),
        ("createdAt", BSON.string("yesterday"), "createdAt is a string, not a date"),
        ("name", BSON.int32(1), "name is a int, not a string"),
    ])
    func unusableUsersSayWhy(field: String, value: BSON?, reason: String) {
        var document = Self.nodeUser
        document[field] = value
        #expect(throws: MongoDocumentError.self) { try MongoDocuments.userRecord(document) }
        do {
            _ = try MongoDocuments.userRecord(document)
        } catch {
            #expect(error.description == reason)
        }
    }

    @Test func messagesRoundTripAndLeaveOutWhatIsNotSet() throws {
        let message = Message(
            id: ObjectID(), senderID: Self.userID, receiverID: Self.peerID, text: "hi", image: nil,
            createdAt: Timestamp(millisecondsSince1970: 1_700_000_000_000),
            updatedAt: Timestamp(millisecondsSince1970: 1_700_000_000_000))
        let document = MongoDocuments.document(message)
        #expect(document.keys == ["_id", "senderId", "receiverId", "text", "createdAt", "updatedAt", "__v"])
        #expect(document["senderId"] == .objectID(Self.userID))
        #expect(try MongoDocuments.message(document) == message)

        var read = message
        read.readAt = Timestamp(millisecondsSince1970: 1_700_000_001_000)
        read.imageMediaID = "m"
        read.image = "https://example.com/i.png"
        #expect(try MongoDocuments.message(MongoDocuments.document(read)) == read)
    }

    @Test func aMessageWithStringReferencesStillReads() throws {
        let document: BSONDocument = [
            "_id": .objectID(ObjectID()), "senderId": .string(Self.userID.hexString),
            "receiverId": .objectID(Self.peerID), "image": "https://example.com/x.png", "text": .null,
        ]
        let message = try MongoDocuments.message(document)
        #expect(message.senderID == Self.userID)
        #expect(message.text == nil)
    }

    @Test func conversationPagesFilterBothDirectionsAndTheIDRange() {
        let before = ObjectID()
        let (filter, sort) = MongoQueries.page(
            ConversationQuery(user: Self.userID, peer: Self.peerID, before: before, limit: 10))
        #expect(
            filter == [
                "$or": [
                    ["senderId": .objectID(Self.userID), "receiverId": .objectID(Self.peerID)],
                    ["senderId": .objectID(Self.peerID), "receiverId": .objectID(Self.userID)],
                ],
                "_id": ["$lt": .objectID(before)],
            ])
        #expect(sort == ["_id": -1], "the newest page is read newest first, then reversed")

        let after = ObjectID()
        let (forward, forwardSort) = MongoQueries.page(
            ConversationQuery(user: Self.userID, peer: Self.peerID, after: after, limit: 10))
        #expect(forward["_id"] == ["$gt": .objectID(after)])
        #expect(forwardSort == ["_id": 1])
    }

    /// The conversation's `$or` and the cursor's: side by side in one document the second
    /// replaced the first, and a page of changes held every conversation's messages.
    @Test func changesAfterACursorStayInTheConversation() {
        let cursor = ObjectID()
        let time = Timestamp(millisecondsSince1970: 1_700_000_000_123)
        var query = ConversationQuery(user: Self.userID, peer: Self.peerID, after: cursor, limit: 10)
        query.updatedAfter = time
        let (filter, sort) = MongoQueries.changes(query, after: time, cursor: cursor)
        #expect(
            filter == [
                "$and": [
                    [
                        "$or": [
                            ["senderId": .objectID(Self.userID), "receiverId": .objectID(Self.peerID)],
                            ["senderId": .objectID(Self.peerID), "receiverId": .objectID(Self.userID)],
                        ]
                    ],
                    [
                        "$or": [
                            ["updatedAt": ["$gt": .date(time)]],
                            ["updatedAt": .date(time), "_id": ["$gt": .objectID(cursor)]],
                        ]
                    ],
                ]
            ])
        #expect(sort == ["updatedAt": 1, "_id": 1])
    }

    @Test func markingReadMatchesDocumentsWithoutReadAt() {
        let upTo = ObjectID()
        let filter = MongoQueries.unread(from: Self.peerID, to: Self.userID, upTo: upTo)
        #expect(filter["readAt"] == .null, "matches a missing field too, as the Node app writes none")
        #expect(filter["senderId"] == .objectID(Self.peerID))
        #expect(filter["_id"] == ["$lte": .objectID(upTo)])
    }

    @Test func indexesAreNamedAsMongooseNamesThem() {
        let commands = MongoQueries.createIndexCommands
        let email = commands.first { $0.name == "users.email_1" }?.command
        #expect(email?["createIndexes"] == "users")
        let specification = email?["indexes"]?.arrayValue?.first?.documentValue
        #expect(specification?["key"] == ["email": 1])
        #expect(specification?["unique"] == true)
        #expect(commands.filter { $0.command["createIndexes"] == "messages" }.count == 3)
    }

    @Test func changeStreamsNeedAReplicaSetOrShards() {
        #expect(MongoDeployment(handshake: ["ismaster": true, "maxWireVersion": 13]) == .standalone)
        #expect(MongoDeployment(handshake: ["isWritablePrimary": true, "setName": "rs0"]) == .replicaSet(name: "rs0"))
        #expect(MongoDeployment(handshake: ["msg": "isdbgrid"]) == .sharded)
        #expect(!MongoDeployment.standalone.supportsChangeStreams)
        #expect(MongoDeployment.sharded.supportsChangeStreams)
    }

    @Test func bigInsertsAreSplitIntoCommandsThatFit() {
        let small = [UInt8](repeating: 0, count: 1000)
        let big = [UInt8](repeating: 0, count: 5 * 1024 * 1024)
        #expect(MongoConnection.chunks(of: []) == [])
        #expect(MongoConnection.chunks(of: [small, small]) == [0..<2])
        #expect(MongoConnection.chunks(of: [big, big, small]) == [0..<1, 1..<3])
        #expect(MongoConnection.chunks(of: Array(repeating: small, count: 9_000)) == [0..<8_388, 8_388..<9_000])
        let tiny = [UInt8](repeating: 0, count: 100)
        #expect(
            MongoConnection.chunks(of: Array(repeating: tiny, count: 25_000)) == [
                0..<10_000, 10_000..<20_000, 20_000..<25_000,
            ])
    }

    @Test func connectionStringsKeepCredentialsOutOfLogs() throws {
        let uri = try MongoConnectionString("mongodb://ann:secret@db1:27017,db2/chat?replicaSet=rs0")
        #expect(uri.displayName == "mongodb://db1:27017,db2:27017/chat")
        // A password may hold characters a textual cut would stop at.
        let tricky = try MongoConnectionString("mongodb://ann:pa?ss@db1/chat")
        #expect(tricky.displayName == "mongodb://db1:27017/chat")
        #expect(uri.database == "chat")
        #expect(try MongoConnectionString("mongodb://localhost").database == "test", "Mongoose's default")
        #expect(throws: MongoError.self) { try MongoConnectionString("mongodb://") }
        #expect(throws: MongoError.self) { try MongoConnectionString("http://localhost") }
    }
}
#endif
