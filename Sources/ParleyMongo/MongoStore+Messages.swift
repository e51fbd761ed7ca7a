// The MongoDB trait builds this module (swift build --traits MongoDB); without it, it is empty.
#if MongoDB
import Logging
import ParleyDomain

extension MongoStore {
    public func insertMessage(_ message: Message) async throws {
        let document = MongoDocuments.document(message)
        try await messageOrder.run {
            try await call { [eventBus] connection in
                // MongoDB has no foreign keys: check that both users exist.
                let participants = Set([message.senderID, message.receiverID])
                let found = try connection.find(
                    MongoDocuments.users,
                    filter: ["_id": ["$in": .array(participants.map { .objectID($0) })]],
                    projection: ["_id": 1]
                )
                guard found.count == participants.count else { throw StoreError.unknownUser }
                let result = try connection.insert(MongoDocuments.messages, [document])
                if let error = result.writeErrors.first { throw error }
                // One instance: straight to this process's sockets.
                if !eventBus.isShared { eventBus.deliver(.messageCreated(message)) }
            }
            guard eventBus.isShared else { return }
            do {
                try await eventBus.publish(.messageCreated(message))
            } catch {
                // Stored, so not an error for the sender (a retry would store it twice); clients
                // catch up with `after`.
                logger.warning(
                    "A stored message could not be announced to other instances",
                    metadata: ["message": "\(message.id)", "error": "\(error)"])
            }
        }
    }

    public func conversation(_ query: ConversationQuery) async throws -> [Message] {
        let documents = try await call { connection in
            for cursor in [query.before, query.after].compactMap({ $0 }) {
                let found = try connection.find(
                    MongoDocuments.messages,
                    filter: MongoQueries.between(query.user, query.peer).merging(["_id": .objectID(cursor)]),
                    projection: ["_id": 1],
                    limit: 1
                )
                guard !found.isEmpty else { throw StoreError.cursorNotFound }
            }
            if let time = query.updatedAfter {
                return try Self.changes(query, after: time, connection)
            }
            let (filter, sort) = MongoQueries.page(query)
            let page = try connection.find(MongoDocuments.messages, filter: filter, sort: sort, limit: query.limit)
            return query.readsNewestFirst ? page.reversed() : page
        }
        return readable(documents, MongoDocuments.message)
    }

    public func message(id: ObjectID) async throws -> Message? {
        let documents = try await call { connection in
            try connection.find(MongoDocuments.messages, filter: ["_id": .objectID(id)], limit: 1)
        }
        return readable(documents, MongoDocuments.message).first
    }

    public func markRead(by reader: ObjectID, from sender: ObjectID, upTo: ObjectID, at time: Timestamp)
        async throws -> Int
    {
        try await call { connection in
            let found = try connection.find(
                MongoDocuments.messages,
                filter: MongoQueries.between(reader, sender).merging(["_id": .objectID(upTo)]),
                projection: ["_id": 1],
                limit: 1
            )
            guard !found.isEmpty else { throw StoreError.cursorNotFound }
            let result = try connection.update(
                MongoDocuments.messages,
                filter: MongoQueries.unread(from: sender, to: reader, upTo: upTo),
                update: ["$set": ["readAt": .date(time), "updatedAt": .date(time)]],
                multi: true
            )
            return result.modified
        }
    }

    public func editMessage(id: ObjectID, text: String, at time: Timestamp) async throws -> Message? {
        let document = try await call { connection in
            try connection.findAndModify(
                MongoDocuments.messages,
                filter: ["_id": .objectID(id), "deletedAt": .null],
                update: ["$set": ["text": .string(text), "editedAt": .date(time), "updatedAt": .date(time)]],
                returnNew: true
            )
        }
        return document.flatMap { readable([$0], MongoDocuments.message).first }
    }

    public func deleteMessage(id: ObjectID, at time: Timestamp) async throws -> Message? {
        let document = try await call { connection in
            try connection.findAndModify(
                MongoDocuments.messages,
                filter: ["_id": .objectID(id), "deletedAt": .null],
                update: [
                    "$unset": ["text": "", "image": "", "imageMediaId": ""],
                    "$set": ["deletedAt": .date(time), "updatedAt": .date(time)],
                ],
                returnNew: false
            )
        }
        return document.flatMap { readable([$0], MongoDocuments.message).first }
    }

    public func sidebar(of user: ObjectID, after position: SidebarPosition?, limit: Int?) async throws
        -> [SidebarEntry]
    {
        try await call { connection in
            var conversations = try connection.aggregate(
                MongoDocuments.messages, pipeline: MongoQueries.conversations(of: user)
            ).compactMap(SidebarConversation.init)
            conversations.removeAll { $0.peer == user }
            conversations.sort { $0.lastID > $1.lastID }
            let peers = conversations.map(\.peer)

            var entries: [SidebarEntry] = []
            if !position.isPastConversations {
                if case .conversationByMessage(let last) = position {
                    conversations.removeAll { $0.lastID >= last }
                }
                // The peers' documents, a page at a time: a message to a user whose document is
                // gone or unreadable is no contact, and must not take a place in the page.
                var start = 0
                let chunk = max(limit ?? 500, 50)
                while start < conversations.count, entries.count < limit ?? .max {
                    let slice = conversations[start..<min(start + chunk, conversations.count)]
                    let users = try connection.find(
                        MongoDocuments.users,
                        filter: ["_id": ["$in": .array(slice.map { .objectID($0.peer) })]]
                    )
                    var records: [ObjectID: UserRecord] = [:]
                    for record in self.readable(users, MongoDocuments.userRecord) {
                        records[record.user.id] = record
                    }
                    for conversation in slice where entries.count < limit ?? .max {
                        guard let peer = records[conversation.peer] else { continue }
                        entries.append(conversation.entry(with: peer.user, deleted: peer.deletedAt != nil))
                    }
                    start += chunk
                }
            }
            if let limit, entries.count >= limit { return entries }
            let others = try connection.find(
                MongoDocuments.users,
                filter: MongoQueries.otherUsers(than: user, excluding: peers, after: position),
                sort: ["name": 1, "_id": 1],
                limit: limit.map { $0 - entries.count }
            )
            for user in self.readable(others, MongoDocuments.userRecord).map(\.user) {
                entries.append(
                    SidebarEntry(
                        user: user, lastMessage: nil, unreadCount: 0, position: .user(name: user.name, id: user.id))
                )
            }
            return entries
        }
    }

    /// Messages of a conversation changed after `time`, in order of change, with the messages
    /// changed at the same millisecond as the last one (at most
    /// ``ConversationQuery/maximumSameTimeChanges``); with an `after` cursor, exactly the next
    /// `limit` changes at or after `time` that follow it.
    private static func changes(_ query: ConversationQuery, after time: Timestamp, _ connection: MongoConnection)
        throws -> [BSONDocument]
    {
        if let cursor = query.after {
            // Continuing after the last of a page (checked to be a message of the conversation):
            // exactly the next `limit` changes.
            let (filter, sort) = MongoQueries.changes(query, after: time, cursor: cursor)
            return try connection.find(MongoDocuments.messages, filter: filter, sort: sort, limit: query.limit)
        }
        let (filter, sort) = MongoQueries.changes(query, after: time)
        var documents = try connection.find(MongoDocuments.messages, filter: filter, sort: sort, limit: query.limit)
        if documents.count == query.limit, let last = documents.last, let updated = last["updatedAt"]?.timestampValue,
            let id = last["_id"]?.objectIDValue
        {
            documents += try connection.find(
                MongoDocuments.messages,
                filter: MongoQueries.sameTimeChanges(query, at: updated, after: id),
                sort: ["_id": 1], limit: ConversationQuery.maximumSameTimeChanges
            )
        }
        return documents
    }
}

/// One result of ``MongoQueries/conversations(of:)``.
private struct SidebarConversation {
    var peer: ObjectID
    var lastID: ObjectID
    var lastSenderID: ObjectID
    var text: String?
    var hasImage: Bool
    var deleted: Bool
    var createdAt: Timestamp
    var unread: Int

    init?(_ document: BSONDocument) {
        guard let peer = document["_id"]?.objectIDValue, let lastID = document["lastId"]?.objectIDValue,
            let sender = document["lastSenderId"]?.objectIDValue
        else { return nil }
        self.peer = peer
        self.lastID = lastID
        self.lastSenderID = sender
        self.text = document["lastText"]?.stringValue
        self.hasImage = document["lastImage"]?.stringValue != nil
        self.deleted = document["lastDeletedAt"].map { !$0.isNull } ?? false
        self.createdAt =
            document["lastCreatedAt"]?.timestampValue ?? Timestamp(seconds: lastID.seconds)
        self.unread = document["unread"]?.intValue ?? 0
    }

    func entry(with user: User, deleted userDeleted: Bool) -> SidebarEntry {
        SidebarEntry(
            user: user,
            lastMessage: LastMessage(
                id: lastID, senderID: lastSenderID, text: text, hasImage: hasImage, deleted: deleted,
                createdAt: createdAt),
            unreadCount: max(0, unread),
            position: .conversationByMessage(lastMessageID: lastID),
            userDeleted: userDeleted
        )
    }
}

extension BSONDocument {
    /// This document with `other`'s fields added (replacing those with the same key).
    func merging(_ other: BSONDocument) -> BSONDocument {
        var merged = self
        for (key, value) in other.fields { merged[key] = value }
        return merged
    }
}
#endif
