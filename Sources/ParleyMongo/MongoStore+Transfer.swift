// The MongoDB trait builds this module (swift build --traits MongoDB); without it, it is empty.
#if MongoDB
import ParleyDomain

/// `parley copy` from and into MongoDB: pages in `_id` order (the order messages were stored in),
/// unordered bulk inserts that skip documents already there.
extension MongoStore: ChatImporter {
    /// MongoDB keeps no references: the copy checks every message's users itself.
    public var enforcesReferences: Bool { false }

    public func countUsers() async throws -> Int {
        try await call { try $0.count(MongoDocuments.users) }
    }

    public func countMessages() async throws -> Int {
        try await call { try $0.count(MongoDocuments.messages) }
    }

    public func exportUsers(after: ObjectID?, limit: Int) async throws -> [ExportedRecord<UserRecord>] {
        try await call { connection in
            try connection.find(
                MongoDocuments.users, filter: Self.idsAfter(after), sort: ["_id": 1], limit: limit
            ).map(Self.exported(MongoDocuments.userRecord))
        }
    }

    public func settledLastMessageID() async throws -> ObjectID? {
        // An insert is one document: there is nothing in flight to wait for.
        try await lastStoredMessageID()
    }

    public func exportMessages(after: ObjectID?, through: ObjectID, limit: Int) async throws
        -> [ExportedRecord<Message>]
    {
        try await call { connection in
            if let after {
                let found = try connection.find(
                    MongoDocuments.messages, filter: ["_id": .objectID(after)], projection: ["_id": 1], limit: 1)
                guard !found.isEmpty else { throw StoreError.cursorNotFound }
            }
            var range: BSONDocument = ["$lte": .objectID(through)]
            if let after { range["$gt"] = .objectID(after) }
            return try connection.find(
                MongoDocuments.messages, filter: ["_id": .document(range)], sort: ["_id": 1], limit: limit
            ).map(Self.exported(MongoDocuments.message))
        }
    }

    public func messagesByID(after: ObjectID?, limit: Int) async throws -> [Message] {
        let documents = try await call { connection in
            try connection.find(MongoDocuments.messages, filter: Self.idsAfter(after), sort: ["_id": 1], limit: limit)
        }
        return readable(documents, MongoDocuments.message)
    }

    public func users(withIDs ids: [ObjectID]) async throws -> [ObjectID: UserRecord] {
        guard !ids.isEmpty else { return [:] }
        let documents = try await call { connection in
            try connection.find(MongoDocuments.users, filter: ["_id": ["$in": .array(ids.map { .objectID($0) })]])
        }
        return Dictionary(readable(documents, MongoDocuments.userRecord).map { ($0.user.id, $0) }) { first, _ in first }
    }

    public func importUsers(_ users: [UserRecord]) async throws -> Int {
        try await call { connection in
            let result = try connection.insert(MongoDocuments.users, users.map(MongoDocuments.document), ordered: false)
            for error in result.writeErrors {
                if error.isDuplicate(on: "email") { throw StoreError.duplicateEmail }
                // Already there under its id: copied by an earlier run.
                if !error.isDuplicateKey { throw error }
            }
            return result.count
        }
    }

    public func importMessages(_ messages: [Message]) async throws -> Int {
        try await call { connection in
            let result = try connection.insert(
                MongoDocuments.messages, messages.map(MongoDocuments.document), ordered: false)
            if let error = result.writeErrors.first(where: { !$0.isDuplicateKey }) { throw error }
            return result.count
        }
    }

    public func userIDs(withEmails emails: [String]) async throws -> [String: ObjectID] {
        guard !emails.isEmpty else { return [:] }
        let documents = try await call { connection in
            try connection.find(
                MongoDocuments.users,
                filter: ["email": ["$in": .array(emails.map { .string($0) })]],
                projection: ["_id": 1, "email": 1]
            )
        }
        var ids: [String: ObjectID] = [:]
        for document in documents {
            if let email = document["email"]?.stringValue, let id = document["_id"]?.objectIDValue { ids[email] = id }
        }
        return ids
    }

    public func lastStoredMessageID() async throws -> ObjectID? {
        try await call { connection in
            try connection.find(
                MongoDocuments.messages, filter: ["_id": ["$type": "objectId"]], sort: ["_id": -1],
                projection: ["_id": 1], limit: 1
            ).first?["_id"]?.objectIDValue
        }
    }

    /// Whether the database has a `users` collection (Parley's or the Node app's).
    public func hasSchema() async throws -> Bool {
        try await call { connection in
            let reply = try connection.runCommand([
                "listCollections": 1, "filter": ["name": .string(MongoDocuments.users)], "nameOnly": true,
            ])
            let batch = reply["cursor"]?.documentValue?["firstBatch"]?.arrayValue ?? []
            return !batch.isEmpty
        }
    }

    private static func idsAfter(_ id: ObjectID?) -> BSONDocument {
        // Only ObjectId ids: the others cannot be Parley ids (and compare by type, not value).
        guard let id else { return ["_id": ["$type": "objectId"]] }
        return ["_id": ["$gt": .objectID(id)]]
    }

    private static func exported<Record>(
        _ read: @escaping (BSONDocument) throws(MongoDocumentError) -> Record
    ) -> (BSONDocument) -> ExportedRecord<Record> {
        { document in ExportedRecord(id: MongoDocuments.idText(document)) { try read(document) } }
    }
}
#endif
