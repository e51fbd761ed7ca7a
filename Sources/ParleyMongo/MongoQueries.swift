// The MongoDB trait builds this module (swift build --traits MongoDB); without it, it is empty.
#if MongoDB
import ParleyDomain

/// The filters, sorts and pipelines the store sends: plain documents, built without a server, so
/// unit tests can check them.
///
/// A conversation is every message between two users in either direction; messages are ordered
/// by `_id`, whose leading bytes are the creation time (as ids are made by Parley and by the Node
/// app's driver alike).
enum MongoQueries {
    /// Indexes created at startup (by name, so an index the Node app's Mongoose already made with
    /// the same keys is recognised). Emails are stored normalised, so no collation is needed.
    static let indexes: [(collection: String, name: String, keys: BSONDocument, unique: Bool)] =
        [
            (MongoDocuments.users, "email_1", ["email": 1], true),
            (MongoDocuments.users, "name_1__id_1", ["name": 1, "_id": 1], false),
            // Conversation pages: both directions are an equality on the pair, then the id range.
            (
                MongoDocuments.messages, "senderId_1_receiverId_1__id_1", ["senderId": 1, "receiverId": 1, "_id": 1],
                false
            ),
            // Catching up on changes since a time.
            (
                MongoDocuments.messages, "senderId_1_receiverId_1_updatedAt_1",
                ["senderId": 1, "receiverId": 1, "updatedAt": 1], false
            ),
            // The sidebar: every message a user received (the sent ones use the first index).
            (MongoDocuments.messages, "receiverId_1__id_1", ["receiverId": 1, "_id": 1], false),
            // Shared realtime (replica sets): cleaning old events, an instance's users.
            (MongoEventBus.collection, "at_1", ["at": 1], false),
            (MongoPresence.online, "instances_1", ["instances": 1], false),
            (MongoPresence.instances, "heartbeatAt_1", ["heartbeatAt": 1], false),
            // Sessions ended early: revocations read since a time, expired ones pruned; users who
            // logged out everywhere.
            (MongoDocuments.revokedTokens, "revokedAt_1", ["revokedAt": 1], false),
            (MongoDocuments.revokedTokens, "expiresAt_1", ["expiresAt": 1], false),
            (MongoDocuments.users, "sessionsRevokedAt_1", ["sessionsRevokedAt": 1], false),
            // A user's groups.
            (MongoDocuments.groups, "members.userId_1", ["members.userId": 1], false),
        ] + groupMessageIndexes

    /// One `createIndexes` command per index, so that one the database cannot build (the Node
    /// app made an index of that name with other options; existing duplicate emails) does not
    /// keep the others from being built. Each is named in what it returns, for the log.
    static var createIndexCommands: [(name: String, command: BSONDocument)] {
        indexes.map { index in
            var specification: BSONDocument = ["key": .document(index.keys), "name": .string(index.name)]
            if index.unique { specification["unique"] = true }
            return (
                "\(index.collection).\(index.name)",
                ["createIndexes": .string(index.collection), "indexes": [.document(specification)]]
            )
        }
    }

    /// Messages between `a` and `b`, either way.
    static func between(_ a: ObjectID, _ b: ObjectID) -> BSONDocument {
        [
            "$or": [
                ["senderId": .objectID(a), "receiverId": .objectID(b)],
                ["senderId": .objectID(b), "receiverId": .objectID(a)],
            ]
        ]
    }

    /// A page of a conversation by position (`before`/`after` are checked to be messages of it
    /// before this is used).
    static func page(_ query: ConversationQuery) -> (filter: BSONDocument, sort: BSONDocument) {
        var filter = between(query.user, query.peer)
        var range = BSONDocument()
        if let before = query.before { range["$lt"] = .objectID(before) }
        if let after = query.after { range["$gt"] = .objectID(after) }
        if !range.isEmpty { filter["_id"] = .document(range) }
        return (filter, ["_id": query.readsNewestFirst ? -1 : 1])
    }

    /// Messages of a conversation changed after `time`, in order of change.
    static func changes(_ query: ConversationQuery, after time: Timestamp) -> (
        filter: BSONDocument, sort: BSONDocument
    ) {
        var filter = between(query.user, query.peer)
        filter["updatedAt"] = ["$gt": .date(time)]
        return (filter, ["updatedAt": 1, "_id": 1])
    }

    /// Messages of a conversation changed after `time`, or at `time` after the message `cursor`
    /// (the last of the previous page), in order of change.
    static func changes(_ query: ConversationQuery, after time: Timestamp, cursor: ObjectID) -> (
        filter: BSONDocument, sort: BSONDocument
    ) {
        // Both conditions are an `$or`: one document cannot hold them side by side.
        let filter: BSONDocument = [
            "$and": [
                .document(between(query.user, query.peer)),
                [
                    "$or": [
                        ["updatedAt": ["$gt": .date(time)]],
                        ["updatedAt": .date(time), "_id": ["$gt": .objectID(cursor)]],
                    ]
                ],
            ]
        ]
        return (filter, ["updatedAt": 1, "_id": 1])
    }

    /// The rest of the messages changed at the same millisecond as the last one of a page.
    static func sameTimeChanges(_ query: ConversationQuery, at time: Timestamp, after id: ObjectID) -> BSONDocument {
        var filter = between(query.user, query.peer)
        filter["updatedAt"] = .date(time)
        filter["_id"] = ["$gt": .objectID(id)]
        return filter
    }

    /// `sender`'s unread messages to `reader` up to and including `upTo` (`readAt: null` also
    /// matches documents without the field, as the Node app writes them).
    static func unread(from sender: ObjectID, to reader: ObjectID, upTo: ObjectID) -> BSONDocument {
        [
            "senderId": .objectID(sender), "receiverId": .objectID(reader), "_id": ["$lte": .objectID(upTo)],
            "readAt": .null,
        ]
    }

    /// One document per conversation of `user`: the peer (`_id`), the newest message's fields and
    /// how many of the peer's messages `user` has not read.
    static func conversations(of user: ObjectID) -> [BSONDocument] {
        let me = BSON.objectID(user)
        let unread: BSON = [
            "$cond": [
                ["$and": [["$eq": ["$receiverId", me]], ["$eq": [["$ifNull": ["$readAt", .null]], .null]]]],
                1, 0,
            ]
        ]
        return [
            ["$match": ["$or": [["senderId": me], ["receiverId": me]]]],
            ["$sort": ["_id": -1]],
            [
                "$group": [
                    "_id": ["$cond": [["$eq": ["$senderId", me]], "$receiverId", "$senderId"]],
                    "lastId": ["$first": "$_id"],
                    "lastSenderId": ["$first": "$senderId"],
                    "lastText": ["$first": "$text"],
                    "lastImage": ["$first": "$image"],
                    "lastDeletedAt": ["$first": "$deletedAt"],
                    "lastCreatedAt": ["$first": "$createdAt"],
                    "unread": ["$sum": unread],
                ]
            ],
        ]
    }

    /// Users other than `user` and `excluded`, after a position in name order.
    static func otherUsers(than user: ObjectID, excluding excluded: [ObjectID], after position: SidebarPosition?)
        -> BSONDocument
    {
        var filter: BSONDocument = [
            "_id": ["$nin": .array(([user] + excluded).map { .objectID($0) })], "deletedAt": ["$exists": false],
        ]
        if case .user(let name, let id) = position {
            filter["$or"] = [
                ["name": ["$gt": .string(name)]],
                ["name": .string(name), "_id": ["$gt": .objectID(id)]],
            ]
        }
        return filter
    }
}
#endif
