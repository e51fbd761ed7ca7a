// The MongoDB trait builds this module (swift build --traits MongoDB); without it, it is empty.
#if MongoDB
import ParleyDomain

/// Groups, their members, read positions and messages for `parley copy`: pages in `_id` order
/// (group messages are stored, and listed, in that order), unordered bulk inserts that skip
/// documents already there, and read positions moved forward as ``markGroupRead(_:by:upTo:at:)``
/// moves them.
extension MongoStore {
    /// Ids in one `$in` filter at most, so that a command stays well under 16 MiB.
    private static let transferIDsPerQuery = 10_000

    public func countGroups() async throws -> Int {
        try await call { try $0.count(MongoDocuments.groups) }
    }

    public func countGroupMessages() async throws -> Int {
        try await call { try $0.count(MongoDocuments.groupMessages) }
    }

    public func exportGroups(after: ObjectID?, limit: Int) async throws -> [ExportedGroup] {
        try await call { connection in
            let groups = try self.readablePage(
                MongoDocuments.groups, after: after, limit: limit, connection, MongoDocuments.group)
            guard !groups.isEmpty else { return [] }
            let documents = try Self.documents(
                MongoDocuments.groupReads, whose: "groupId", isIn: groups.map { $0.group.id }, connection)
            var receipts: [ObjectID: [GroupReadReceipt]] = [:]
            for receipt in self.readable(documents, MongoDocuments.groupRead) {
                receipts[receipt.groupID, default: []].append(receipt)
            }
            return groups.map { read in
                let members = Self.latestEntries(read.members)
                return ExportedGroup(
                    group: read.group, members: members,
                    reads: Self.positions(receipts[read.group.id] ?? [], of: members))
            }
        }
    }

    public func exportGroupMessages(after: ObjectID?, limit: Int) async throws -> [GroupMessage] {
        try await call { connection in
            if let after {
                let found = try connection.find(
                    MongoDocuments.groupMessages, filter: ["_id": .objectID(after)], projection: ["_id": 1], limit: 1)
                guard !found.isEmpty else { throw StoreError.cursorNotFound }
            }
            // Stored in `_id` order: the order of storing is the order of ids.
            return try self.readablePage(
                MongoDocuments.groupMessages, after: after, limit: limit, connection, MongoDocuments.groupMessage)
        }
    }

    public func groupMessagesByID(after: ObjectID?, limit: Int) async throws -> [GroupMessage] {
        try await call { connection in
            try self.readablePage(
                MongoDocuments.groupMessages, after: after, limit: limit, connection, MongoDocuments.groupMessage)
        }
    }

    public func importGroups(_ groups: [ExportedGroup]) async throws -> Int {
        guard !groups.isEmpty else { return 0 }
        return try await call { connection in
            let documents = groups.map { MongoDocuments.document($0.group, members: $0.members, version: 0) }
            let result = try connection.insert(MongoDocuments.groups, documents, ordered: false)
            // Already there under its id: copied by an earlier run (or the target's own).
            if let error = result.writeErrors.first(where: { !$0.isDuplicateKey }) { throw error }
            return result.count
        }
    }

    public func importGroupMessages(_ messages: [GroupMessage]) async throws -> Int {
        guard !messages.isEmpty else { return 0 }
        return try await call { connection in
            let result = try connection.insert(
                MongoDocuments.groupMessages, messages.map(MongoDocuments.document), ordered: false)
            if let error = result.writeErrors.first(where: { !$0.isDuplicateKey }) { throw error }
            return result.count
        }
    }

    /// For each position: the user must be a member of the group now (closed groups have none),
    /// `upTo` one of its messages, and the position not older than the member's `joinedAt` (it
    /// would count as none, and must not replace one that counts); then it is moved as
    /// ``markGroupRead(_:by:upTo:at:)`` moves one.
    public func importReadPositions(_ reads: [GroupReadReceipt]) async throws -> Int {
        guard !reads.isEmpty else { return 0 }
        return try await call { connection in
            let groups = try Self.documents(
                MongoDocuments.groups, whose: "_id", isIn: Array(Set(reads.map(\.groupID))), connection)
            var joined: [ObjectID: [ObjectID: Timestamp]] = [:]
            for read in self.readable(groups, MongoDocuments.group) {
                var members: [ObjectID: Timestamp] = [:]
                for member in read.members {
                    members[member.userID] = max(members[member.userID] ?? member.joinedAt, member.joinedAt)
                }
                joined[read.group.id] = members
            }
            let messages = try Self.documents(
                MongoDocuments.groupMessages, whose: "_id", isIn: Array(Set(reads.map(\.upTo))), connection,
                projection: ["_id": 1, "groupId": 1])
            var groupOf: [ObjectID: ObjectID] = [:]
            for document in messages {
                if let id = document["_id"]?.objectIDValue, let group = document["groupId"]?.objectIDValue {
                    groupOf[id] = group
                }
            }

            var moved = 0
            for read in reads {
                guard let joinedAt = joined[read.groupID]?[read.by], read.readAt >= joinedAt,
                    groupOf[read.upTo] == read.groupID
                else { continue }
                if try self.moveReadPosition(to: read, joinedAt: joinedAt, connection) { moved += 1 }
            }
            return moved
        }
    }

    // MARK: Helpers

    /// Moves `read.by`'s position in `read.groupID` to `read` if it is behind (or from before
    /// `joinedAt`), or creates it if there is none: `markGroupRead`'s two writes, tried again when
    /// another read comes in between. `false` when the stored position is as far already.
    private func moveReadPosition(to read: GroupReadReceipt, joinedAt: Timestamp, _ connection: MongoConnection)
        throws -> Bool
    {
        let position: BSONDocument = ["upTo": .objectID(read.upTo), "readAt": .date(read.readAt)]
        for _ in 0..<Self.groupReadAttempts {
            let result = try connection.update(
                MongoDocuments.groupReads,
                filter: MongoQueries.readBehind(in: read.groupID, by: read.by, upTo: read.upTo, joinedAt: joinedAt),
                update: ["$set": .document(position)]
            )
            if result.count > 0 { return true }
            let existing: BSONDocument?
            do {
                existing = try connection.findAndModify(
                    MongoDocuments.groupReads,
                    filter: ["groupId": .objectID(read.groupID), "userId": .objectID(read.by)],
                    update: ["$setOnInsert": .document(position)],
                    returnNew: false,
                    upsert: true
                )
            } catch let error as MongoError where error.isDuplicateKey {
                // Another first read of the same member came first.
                continue
            }
            guard let existing else { return true }
            guard let stored = readable([existing], MongoDocuments.groupRead).first else {
                // Written by another program in a shape Parley cannot read (logged): left alone.
                return false
            }
            if stored.upTo >= read.upTo, stored.readAt >= joinedAt { return false }
        }
        throw StoreError.unavailable("The read position is changing too fast; try again")
    }

    /// Up to `limit` documents of `collection` with ObjectId ids greater than `after`, in `_id`
    /// order, that `read` can read: those it cannot are skipped (and logged), and more are read in
    /// their place, so that a short page means the end.
    private func readablePage<Record>(
        _ collection: String, after: ObjectID?, limit: Int, _ connection: MongoConnection,
        _ read: (BSONDocument) throws(MongoDocumentError) -> Record
    ) throws -> [Record] {
        var records: [Record] = []
        var cursor = after
        while records.count < limit {
            let wanted = limit - records.count
            let documents = try connection.find(
                collection, filter: Self.transferIDsAfter(cursor), sort: ["_id": 1], limit: wanted)
            records += readable(documents, read)
            guard documents.count == wanted, let last = documents.last?["_id"]?.objectIDValue else { break }
            cursor = last
        }
        return records
    }

    /// Only ObjectId ids: the others cannot be Parley ids (and compare by type, not value).
    private static func transferIDsAfter(_ id: ObjectID?) -> BSONDocument {
        guard let id else { return ["_id": ["$type": "objectId"]] }
        return ["_id": ["$gt": .objectID(id)]]
    }

    /// The documents of `collection` whose `field` is one of `ids`, a few thousand ids a query.
    private static func documents(
        _ collection: String, whose field: String, isIn ids: [ObjectID], _ connection: MongoConnection,
        projection: BSONDocument? = nil
    ) throws -> [BSONDocument] {
        var documents: [BSONDocument] = []
        var start = 0
        while start < ids.count {
            let end = min(start + transferIDsPerQuery, ids.count)
            documents += try connection.find(
                collection, filter: [field: ["$in": .array(ids[start..<end].map { .objectID($0) })]],
                projection: projection)
            start = end
        }
        return documents
    }

    /// One entry per user (the latest, should another program have stored two), in the order
    /// they joined.
    private static func latestEntries(_ members: [GroupMember]) -> [GroupMember] {
        var latest: [ObjectID: GroupMember] = [:]
        for member in members {
            if let other = latest[member.userID], other.joinedAt >= member.joinedAt { continue }
            latest[member.userID] = member
        }
        return latest.values.sorted { ($0.joinedAt, $0.userID) < ($1.joinedAt, $1.userID) }
    }

    /// Members' positions only (not those of users who left, nor from an earlier membership), one
    /// per member, the furthest: what ``readPositions(in:)`` lists.
    private static func positions(_ receipts: [GroupReadReceipt], of members: [GroupMember]) -> [GroupReadReceipt] {
        var joined: [ObjectID: Timestamp] = [:]
        for member in members { joined[member.userID] = member.joinedAt }
        var positions: [ObjectID: GroupReadReceipt] = [:]
        for receipt in receipts {
            guard let joinedAt = joined[receipt.by], receipt.readAt >= joinedAt else { continue }
            if let other = positions[receipt.by], other.upTo >= receipt.upTo { continue }
            positions[receipt.by] = receipt
        }
        return positions.values.sorted { ($0.upTo, $0.by) < ($1.upTo, $1.by) }
    }
}
#endif
