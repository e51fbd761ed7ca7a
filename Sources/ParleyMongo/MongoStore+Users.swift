// The MongoDB trait builds this module (swift build --traits MongoDB); without it, it is empty.
#if MongoDB
import Logging
import ParleyDomain

extension MongoStore {
    public func insertUser(_ record: UserRecord) async throws {
        try await call { connection in
            let result = try connection.insert(MongoDocuments.users, [MongoDocuments.document(record)])
            if let error = result.writeErrors.first {
                throw error.isDuplicateKey ? StoreError.duplicateEmail : error
            }
        }
    }

    public func user(id: ObjectID) async throws -> UserRecord? {
        try await findUser(["_id": .objectID(id)])
    }

    public func user(email: String) async throws -> UserRecord? {
        try await findUser(["email": .string(email)])
    }

    public func updateUser(id: ObjectID, changes: UserChanges, at time: Timestamp) async throws -> UserUpdate? {
        var set: BSONDocument = ["updatedAt": .date(time)]
        var unset = BSONDocument()
        if let name = changes.name { set["name"] = .string(name) }
        if let avatar = changes.avatar {
            set["avatar"] = .string(avatar.url)
            if let mediaID = avatar.mediaID {
                set["avatarMediaId"] = .string(mediaID)
            } else {
                unset["avatarMediaId"] = ""
            }
        }
        var update: BSONDocument = ["$set": .document(set)]
        if !unset.isEmpty { update["$unset"] = .document(unset) }
        // One atomic change; the document as it was tells the caller which avatar to delete.
        guard
            let before = try await call({ [update] connection in
                try connection.findAndModify(
                    MongoDocuments.users, filter: ["_id": .objectID(id)], update: update, returnNew: false)
            })
        else { return nil }
        guard let previous = readable([before], MongoDocuments.userRecord).first else { return nil }
        return UserUpdate(previous: previous, updated: previous.applying(changes, at: time))
    }

    public func users(excluding id: ObjectID) async throws -> [User] {
        let documents = try await call { connection in
            try connection.find(
                MongoDocuments.users, filter: ["_id": ["$ne": .objectID(id)], "deletedAt": ["$exists": false]],
                sort: ["name": 1, "_id": 1])
        }
        return readable(documents, MongoDocuments.userRecord).map(\.user)
    }

    public func revokeSessions(of user: ObjectID, upTo time: Timestamp) async throws -> Bool {
        let result = try await call { connection in
            try connection.update(
                MongoDocuments.users, filter: ["_id": .objectID(user)],
                update: ["$max": ["sessionsRevokedAt": .date(time)]])
        }
        return result.count > 0
    }

    public func deleteUser(id: ObjectID, at time: Timestamp) async throws -> UserRecord? {
        let before = try await call { connection in
            try connection.findAndModify(
                MongoDocuments.users,
                filter: ["_id": .objectID(id), "deletedAt": ["$exists": false]],
                update: [
                    "$set": [
                        "name": "", "email": .string(UserRecord.deletedEmail(of: id)), "password": "", "avatar": "",
                        "updatedAt": .date(time), "sessionsRevokedAt": .date(time), "deletedAt": .date(time),
                    ],
                    "$unset": ["avatarMediaId": ""],
                ],
                returnNew: false
            )
        }
        return before.flatMap { readable([$0], MongoDocuments.userRecord).first }
    }

    private func findUser(_ filter: BSONDocument) async throws -> UserRecord? {
        let documents = try await call { connection in
            try connection.find(MongoDocuments.users, filter: filter, limit: 1)
        }
        return readable(documents, MongoDocuments.userRecord).first
    }

    /// The documents that read as `Record`; the others (written by some other program) are left
    /// out of what users see, and logged.
    func readable<Record>(
        _ documents: [BSONDocument],
        _ read: (BSONDocument) throws(MongoDocumentError) -> Record
    ) -> [Record] {
        documents.compactMap { document in
            do {
                return try read(document)
            } catch {
                logger.warning(
                    "Skipping a document Parley cannot read",
                    metadata: ["id": "\(MongoDocuments.idText(document))", "problem": "\(error)"]
                )
                return nil
            }
        }
    }
}
#endif
