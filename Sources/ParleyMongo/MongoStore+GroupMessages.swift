// The MongoDB trait builds this module (swift build --traits MongoDB); without it, it is empty.
#if MongoDB
import Logging
import ParleyDomain

/// Group messages in collection `groupmessages`, ordered within a group by `_id` (as one-to-one
/// messages are), and each member's read position in `groupreads`.
///
/// MongoDB has neither foreign keys nor (outside replica sets) transactions: every call checks
/// membership by reading the group's document (with only the caller's entry, as a group's members
/// can be a thousand) just before it acts. A read position left from an earlier membership (a
/// member who left and was added again) is older than their `joinedAt`, and counts as none, as
/// the SQL stores drop a member's row when they leave.
extension MongoStore {
    /// Tries of a read position's move before giving up as unavailable (another read of the same
    /// member coming in between its two writes takes one more).
    static let groupReadAttempts = 10

    public func insertGroupMessage(_ message: GroupMessage) async throws {
        let document = MongoDocuments.document(message)
        try await messageOrder.run {
            try await call { [eventBus] connection in
                // No foreign keys: the sender must be a member of the open group now.
                guard try self.membership(of: message.senderID, in: message.groupID, connection) != nil else {
                    throw GroupChangeError.groupNotFound
                }
                let result = try connection.insert(MongoDocuments.groupMessages, [document])
                if let error = result.writeErrors.first { throw error }
                // One instance: straight to this process's sockets.
                if !eventBus.isShared { eventBus.deliver(.groupMessageCreated(message)) }
            }
            guard eventBus.isShared else { return }
            do {
                try await eventBus.publish(.groupMessageCreated(message))
            } catch {
                // Stored, so not an error for the sender (a retry would store it twice); members
                // catch up with `after`.
                logger.warning(
                    "A stored group message could not be announced to other instances",
                    metadata: ["message": "\(message.id)", "group": "\(message.groupID)", "error": "\(error)"])
            }
        }
    }

    public func groupMessages(_ query: GroupMessageQuery) async throws -> [GroupMessage] {
        let documents = try await call { connection in
            guard try self.membership(of: query.user, in: query.group, connection) != nil else {
                throw GroupChangeError.groupNotFound
            }
            for cursor in [query.before, query.after].compactMap({ $0 }) {
                let found = try connection.find(
                    MongoDocuments.groupMessages,
                    filter: MongoQueries.message(cursor, in: query.group),
                    projection: ["_id": 1],
                    limit: 1
                )
                guard !found.isEmpty else { throw StoreError.cursorNotFound }
            }
            if let time = query.updatedAfter {
                return try Self.groupChanges(query, after: time, connection)
            }
            let (filter, sort) = MongoQueries.page(query)
            let page = try connection.find(
                MongoDocuments.groupMessages, filter: filter, sort: sort, limit: query.limit)
            return query.readsNewestFirst ? page.reversed() : page
        }
        return readable(documents, MongoDocuments.groupMessage)
    }

    public func groupMessage(id: ObjectID) async throws -> GroupMessage? {
        let documents = try await call { connection in
            try connection.find(MongoDocuments.groupMessages, filter: ["_id": .objectID(id)], limit: 1)
        }
        return readable(documents, MongoDocuments.groupMessage).first
    }

    public func editGroupMessage(id: ObjectID, text: String, at time: Timestamp) async throws -> GroupMessage? {
        let document = try await call { connection in
            try connection.findAndModify(
                MongoDocuments.groupMessages,
                filter: ["_id": .objectID(id), "deletedAt": .null],
                update: ["$set": ["text": .string(text), "editedAt": .date(time), "updatedAt": .date(time)]],
                returnNew: true
            )
        }
        return document.flatMap { readable([$0], MongoDocuments.groupMessage).first }
    }

    public func deleteGroupMessage(id: ObjectID, at time: Timestamp) async throws -> GroupMessage? {
        let document = try await call { connection in
            try connection.findAndModify(
                MongoDocuments.groupMessages,
                filter: ["_id": .objectID(id), "deletedAt": .null],
                update: [
                    "$unset": ["text": "", "image": "", "imageMediaId": ""],
                    "$set": ["deletedAt": .date(time), "updatedAt": .date(time)],
                ],
                returnNew: false
            )
        }
        // As it was before: with its image's media id, for the caller to delete the image.
        return document.flatMap { readable([$0], MongoDocuments.groupMessage).first }
    }

    /// Moves the position forward with a conditional update; when there is none to move, creates
    /// the first one with an upsert that inserts only if the member has no position at all. A
    /// position another read stored between the two writes is tried again.
    public func markGroupRead(_ group: ObjectID, by reader: ObjectID, upTo: ObjectID, at time: Timestamp)
        async throws -> Bool
    {
        try await call { connection in
            guard let member = try self.membership(of: reader, in: group, connection)?.member else {
                throw GroupChangeError.groupNotFound
            }
            let found = try connection.find(
                MongoDocuments.groupMessages,
                filter: MongoQueries.message(upTo, in: group),
                projection: ["_id": 1],
                limit: 1
            )
            guard !found.isEmpty else { throw StoreError.cursorNotFound }
            for _ in 0..<Self.groupReadAttempts {
                let moved = try connection.update(
                    MongoDocuments.groupReads,
                    filter: MongoQueries.readBehind(in: group, by: reader, upTo: upTo, joinedAt: member.joinedAt),
                    update: ["$set": ["upTo": .objectID(upTo), "readAt": .date(time)]]
                )
                if moved.count > 0 { return true }
                // Nothing behind `upTo`: the member's first read, unless they read this far already.
                let existing: BSONDocument?
                do {
                    existing = try connection.findAndModify(
                        MongoDocuments.groupReads,
                        filter: ["groupId": .objectID(group), "userId": .objectID(reader)],
                        // The server gives the new document an ObjectId `_id`, and the filter's
                        // `groupId` and `userId`.
                        update: ["$setOnInsert": ["upTo": .objectID(upTo), "readAt": .date(time)]],
                        returnNew: false,
                        upsert: true
                    )
                } catch let error as MongoError where error.code == 11000 {
                    // The unique (groupId, userId) index, on a server that does not retry such an
                    // upsert itself: another first read came first.
                    continue
                }
                guard let existing else { return true }
                guard let stored = self.readable([existing], MongoDocuments.groupRead).first else {
                    // Written by another program in a shape Parley cannot read (logged): left alone.
                    return false
                }
                if stored.upTo >= upTo, stored.readAt >= member.joinedAt { return false }
                // Another read stored a position behind `upTo` between the two writes: again.
            }
            throw StoreError.unavailable("The read position is changing too fast; try again")
        }
    }

    public func readPositions(in group: ObjectID) async throws -> [GroupReadReceipt] {
        let (groups, reads) = try await call { connection -> ([BSONDocument], [BSONDocument]) in
            let groups = try connection.find(MongoDocuments.groups, filter: ["_id": .objectID(group)], limit: 1)
            let reads = try connection.find(MongoDocuments.groupReads, filter: ["groupId": .objectID(group)])
            return (groups, reads)
        }
        guard let members = readable(groups, MongoDocuments.group).first?.members else { return [] }
        var joined: [ObjectID: Timestamp] = [:]
        for member in members { joined[member.userID] = max(joined[member.userID] ?? member.joinedAt, member.joinedAt) }
        // Members' positions only (not those of users who left, nor from an earlier membership);
        // one per member, the furthest, should another program have stored two.
        var positions: [ObjectID: GroupReadReceipt] = [:]
        for receipt in readable(reads, MongoDocuments.groupRead) {
            guard receipt.groupID == group, let joinedAt = joined[receipt.by], receipt.readAt >= joinedAt else {
                continue
            }
            if let other = positions[receipt.by], other.upTo >= receipt.upTo { continue }
            positions[receipt.by] = receipt
        }
        return positions.values.sorted { ($0.upTo, $0.by) < ($1.upTo, $1.by) }
    }

    public func role(of user: ObjectID, in group: ObjectID) async throws -> GroupRole? {
        try await call { connection in
            try self.membership(of: user, in: group, connection)?.member.role
        }
    }

    /// The user's open groups (each with only their entry), their read positions, then for each
    /// group its newest message and, when they have not read up to it, a count of the unread.
    public func groupSidebar(of user: ObjectID) async throws -> [GroupSidebarEntry] {
        try await call { connection in
            let documents = try connection.find(
                MongoDocuments.groups,
                filter: ["members.userId": .objectID(user), "closedAt": .null],
                projection: MongoQueries.groupFields(withMember: user)
            )
            var groups: [(group: Group, joinedAt: Timestamp)] = []
            for read in self.readable(documents, MongoDocuments.group) {
                guard let member = read.members.first(where: { $0.userID == user }) else { continue }
                groups.append((group: read.group, joinedAt: member.joinedAt))
            }
            guard !groups.isEmpty else { return [] }

            let reads = try connection.find(
                MongoDocuments.groupReads,
                filter: [
                    "userId": .objectID(user), "groupId": ["$in": .array(groups.map { .objectID($0.group.id) })],
                ]
            )
            var joined: [ObjectID: Timestamp] = [:]
            for (group, joinedAt) in groups { joined[group.id] = joinedAt }
            var positions: [ObjectID: ObjectID] = [:]
            for receipt in self.readable(reads, MongoDocuments.groupRead) {
                // A position from an earlier membership is none.
                guard receipt.by == user, let joinedAt = joined[receipt.groupID], receipt.readAt >= joinedAt else {
                    continue
                }
                positions[receipt.groupID] = max(positions[receipt.groupID] ?? receipt.upTo, receipt.upTo)
            }

            var entries: [GroupSidebarEntry] = []
            for (group, _) in groups {
                let newest = try connection.find(
                    MongoDocuments.groupMessages, filter: ["groupId": .objectID(group.id)], sort: ["_id": -1], limit: 1)
                var unread = 0
                if let newestID = newest.first?["_id"]?.objectIDValue,
                    positions[group.id].map({ $0 < newestID }) ?? true
                {
                    unread = try connection.count(
                        MongoDocuments.groupMessages,
                        filter: MongoQueries.unread(in: group.id, by: user, after: positions[group.id]))
                }
                let last = self.readable(newest, MongoDocuments.groupMessage).first?.lastMessage
                entries.append(GroupSidebarEntry(group: group, lastMessage: last, unreadCount: unread))
            }
            entries.sort(by: Self.moreRecentlyActive)
            return entries
        }
    }

    /// Sidebar order: by when the group was last active, newest first; at the same millisecond,
    /// the newer message (a group with one before a group without), then the newer group.
    private static func moreRecentlyActive(_ a: GroupSidebarEntry, _ b: GroupSidebarEntry) -> Bool {
        if a.activeAt != b.activeAt { return a.activeAt > b.activeAt }
        switch (a.lastMessage?.id, b.lastMessage?.id) {
        case let (first?, second?) where first != second: return first > second
        case (.some, nil): return true
        case (nil, .some): return false
        default: return a.group.id > b.group.id
        }
    }

    /// `user`'s membership of the open group `group`: the group and their entry, read with only
    /// that entry of its members; `nil` when they are not a member (or the group is closed, gone,
    /// or unreadable).
    private func membership(of user: ObjectID, in group: ObjectID, _ connection: MongoConnection) throws
        -> (group: Group, member: GroupMember)?
    {
        let found = try connection.find(
            MongoDocuments.groups,
            filter: MongoQueries.openGroup(group, withMember: user),
            projection: MongoQueries.groupFields(withMember: user),
            limit: 1
        )
        guard let read = readable(found, MongoDocuments.group).first,
            let member = read.members.first(where: { $0.userID == user })
        else { return nil }
        return (read.group, member)
    }

    /// Messages of a group changed after `time`, in order of change, with every message changed
    /// at the same millisecond as the last one.
    private static func groupChanges(_ query: GroupMessageQuery, after time: Timestamp, _ connection: MongoConnection)
        throws -> [BSONDocument]
    {
        if let cursor = query.after {
            // Continuing after the last of a page (checked to be a message of the group):
            // exactly the next `limit` changes.
            let (filter, sort) = MongoQueries.changes(query, after: time, cursor: cursor)
            return try connection.find(MongoDocuments.groupMessages, filter: filter, sort: sort, limit: query.limit)
        }
        let (filter, sort) = MongoQueries.changes(query, after: time)
        var documents = try connection.find(
            MongoDocuments.groupMessages, filter: filter, sort: sort, limit: query.limit)
        if documents.count == query.limit, let last = documents.last, let updated = last["updatedAt"]?.timestampValue,
            let id = last["_id"]?.objectIDValue
        {
            documents += try connection.find(
                MongoDocuments.groupMessages,
                filter: MongoQueries.sameTimeChanges(query, at: updated, after: id),
                sort: ["_id": 1]
            )
        }
        return documents
    }
}

// MARK: - Documents

/// Group messages and read positions as documents a Node/Mongoose app could also read: ObjectId
/// references, dates as dates, optional fields left out when unset (no `__v`, as for groups).
///
/// - `groupmessages`: `{_id, groupId, senderId, text?, image?, imageMediaId?, createdAt,
///   updatedAt, editedAt?, deletedAt?}`.
/// - `groupreads`: one per member who read something, `{_id, groupId, userId, upTo, readAt}`,
///   `upTo` being the `_id` of the last message they read.
extension MongoDocuments {
    static let groupMessages = "groupmessages"
    static let groupReads = "groupreads"

    static func document(_ message: GroupMessage) -> BSONDocument {
        var document: BSONDocument = [
            "_id": .objectID(message.id), "groupId": .objectID(message.groupID),
            "senderId": .objectID(message.senderID),
        ]
        if let text = message.text { document["text"] = .string(text) }
        if let image = message.image { document["image"] = .string(image) }
        if let mediaID = message.imageMediaID { document["imageMediaId"] = .string(mediaID) }
        document["createdAt"] = .date(message.createdAt)
        document["updatedAt"] = .date(message.updatedAt)
        if let editedAt = message.editedAt { document["editedAt"] = .date(editedAt) }
        if let deletedAt = message.deletedAt { document["deletedAt"] = .date(deletedAt) }
        return document
    }

    /// A group message document; missing timestamps fall back to the id's time, as for messages.
    static func groupMessage(_ document: BSONDocument) throws(MongoDocumentError) -> GroupMessage {
        let id = try objectID(document, "_id")
        let created = try optionalDate(document, "createdAt") ?? Timestamp(seconds: id.seconds)
        return GroupMessage(
            id: id,
            groupID: try objectID(document, "groupId"),
            senderID: try objectID(document, "senderId"),
            text: try optionalString(document, "text"),
            image: try optionalString(document, "image"),
            imageMediaID: try optionalString(document, "imageMediaId"),
            createdAt: created,
            updatedAt: try optionalDate(document, "updatedAt") ?? created,
            editedAt: try optionalDate(document, "editedAt"),
            deletedAt: try optionalDate(document, "deletedAt")
        )
    }

    /// A read position document as the receipt it stands for.
    static func groupRead(_ document: BSONDocument) throws(MongoDocumentError) -> GroupReadReceipt {
        guard let readAt = try optionalDate(document, "readAt") else {
            throw MongoDocumentError("readAt", "is missing")
        }
        return GroupReadReceipt(
            groupID: try objectID(document, "groupId"), by: try objectID(document, "userId"),
            upTo: try objectID(document, "upTo"), readAt: readAt)
    }
}

// MARK: - Queries

/// The filters and projections of group messages, plain documents as the others
/// (``MongoQueries``).
extension MongoQueries {
    /// Indexes group messages need; to be created with ``indexes`` at startup. The unique one
    /// keeps a member to one read position (and lets the server retry a first read's upsert).
    static let groupMessageIndexes: [(collection: String, name: String, keys: BSONDocument, unique: Bool)] = [
        // Pages of a group's history: an equality on the group, then the id range.
        (MongoDocuments.groupMessages, "groupId_1__id_1", ["groupId": 1, "_id": 1], false),
        // Catching up on changes since a time.
        (MongoDocuments.groupMessages, "groupId_1_updatedAt_1", ["groupId": 1, "updatedAt": 1], false),
        (MongoDocuments.groupReads, "groupId_1_userId_1", ["groupId": 1, "userId": 1], true),
    ]

    /// The open group `group` if `user` is a member (`closedAt: null` also matches documents
    /// without the field).
    static func openGroup(_ group: ObjectID, withMember user: ObjectID) -> BSONDocument {
        ["_id": .objectID(group), "closedAt": .null, "members.userId": .objectID(user)]
    }

    /// A group's fields with only `user`'s entry of its members (a group's can be a thousand).
    static func groupFields(withMember user: ObjectID) -> BSONDocument {
        [
            "name": 1, "avatar": 1, "avatarMediaId": 1, "createdAt": 1, "updatedAt": 1, "closedAt": 1, "version": 1,
            "members": ["$elemMatch": ["userId": .objectID(user)]],
        ]
    }

    /// The message `id` if it is one of `group`'s.
    static func message(_ id: ObjectID, in group: ObjectID) -> BSONDocument {
        ["_id": .objectID(id), "groupId": .objectID(group)]
    }

    /// A page of a group's history by position (`before`/`after` are checked to be messages of
    /// it before this is used).
    static func page(_ query: GroupMessageQuery) -> (filter: BSONDocument, sort: BSONDocument) {
        var filter: BSONDocument = ["groupId": .objectID(query.group)]
        var range = BSONDocument()
        if let before = query.before { range["$lt"] = .objectID(before) }
        if let after = query.after { range["$gt"] = .objectID(after) }
        if !range.isEmpty { filter["_id"] = .document(range) }
        return (filter, ["_id": query.readsNewestFirst ? -1 : 1])
    }

    /// Messages of a group changed after `time`, in order of change.
    static func changes(_ query: GroupMessageQuery, after time: Timestamp) -> (
        filter: BSONDocument, sort: BSONDocument
    ) {
        let filter: BSONDocument = ["groupId": .objectID(query.group), "updatedAt": ["$gt": .date(time)]]
        return (filter, ["updatedAt": 1, "_id": 1])
    }

    /// Messages of a group changed after `time`, or at `time` after the message `cursor` (the
    /// last of the previous page), in order of change.
    static func changes(_ query: GroupMessageQuery, after time: Timestamp, cursor: ObjectID) -> (
        filter: BSONDocument, sort: BSONDocument
    ) {
        let filter: BSONDocument = [
            "groupId": .objectID(query.group),
            "$or": [
                ["updatedAt": ["$gt": .date(time)]], ["updatedAt": .date(time), "_id": ["$gt": .objectID(cursor)]],
            ],
        ]
        return (filter, ["updatedAt": 1, "_id": 1])
    }

    /// The rest of a group's messages changed at the same millisecond as the last one of a page.
    static func sameTimeChanges(_ query: GroupMessageQuery, at time: Timestamp, after id: ObjectID) -> BSONDocument {
        ["groupId": .objectID(query.group), "updatedAt": .date(time), "_id": ["$gt": .objectID(id)]]
    }

    /// `user`'s read position in `group` if it is behind `upTo`, or left from before they last
    /// joined (then any new position replaces it).
    static func readBehind(in group: ObjectID, by user: ObjectID, upTo: ObjectID, joinedAt: Timestamp)
        -> BSONDocument
    {
        [
            "groupId": .objectID(group), "userId": .objectID(user),
            "$or": [["upTo": ["$lt": .objectID(upTo)]], ["readAt": ["$lt": .date(joinedAt)]]],
        ]
    }

    /// Messages of `group` that `user` has not read: others', not deleted, after their position
    /// (all, without one). `deletedAt: null` also matches documents without the field.
    static func unread(in group: ObjectID, by user: ObjectID, after upTo: ObjectID?) -> BSONDocument {
        var filter: BSONDocument = [
            "groupId": .objectID(group), "senderId": ["$ne": .objectID(user)], "deletedAt": .null,
        ]
        if let upTo { filter["_id"] = ["$gt": .objectID(upTo)] }
        return filter
    }
}
#endif
