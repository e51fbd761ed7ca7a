// The MongoDB trait builds this module (swift build --traits MongoDB); without it, it is empty.
#if MongoDB
import Logging
import ParleyDomain

/// Groups in collection `groups`, members embedded. A change reads the group, decides it with
/// ``GroupRoster`` and writes it back only if the group's `version` is still the one it read,
/// else reads again: changes to one group are decided one after the other, each against the
/// roster as it is then. (How many groups a user is in is counted, not locked: two groups
/// adding the same user at once can take them one past ``GroupLimits/maxGroupsPerUser``.)
extension MongoStore {
    /// Tries of an optimistic change before giving up as unavailable.
    static let groupChangeAttempts = 50

    public func createGroup(_ group: Group, owner: ObjectID, members: [ObjectID], limits: GroupLimits) async throws
        -> [GroupMember]
    {
        let founder = GroupMember(userID: owner, role: .owner, joinedAt: group.createdAt)
        try GroupRoster.checkSize(of: members, limits: limits)
        let counts = try await groupCounts(of: [owner] + members)
        guard let owned = counts[owner] else { throw GroupChangeError.unknownUsers([owner]) }
        guard owned < limits.maxGroupsPerUser else {
            throw GroupChangeError.tooManyGroups([owner], limit: limits.maxGroupsPerUser)
        }
        let outcome = try GroupRoster([founder]).apply(
            .add(members), by: owner, at: group.createdAt, limits: limits, groupCounts: counts)
        let all = [founder] + outcome.added
        let document = MongoDocuments.document(group, members: all, version: 0)
        try await call { connection in
            let result = try connection.insert(MongoDocuments.groups, [document])
            if let error = result.writeErrors.first { throw error }
        }
        return all
    }

    public func group(id: ObjectID, visibleTo user: ObjectID) async throws
        -> (group: Group, members: [GroupMember])?
    {
        let documents = try await call { connection in
            try connection.find(
                MongoDocuments.groups,
                filter: ["_id": .objectID(id), "closedAt": .null, "members.userId": .objectID(user)], limit: 1)
        }
        guard let found = readable(documents, MongoDocuments.group).first else { return nil }
        return (found.group, found.members.sorted { ($0.joinedAt, $0.userID) < ($1.joinedAt, $1.userID) })
    }

    public func groups(of user: ObjectID) async throws -> [Group] {
        let documents = try await call { connection in
            try connection.find(
                MongoDocuments.groups, filter: ["members.userId": .objectID(user), "closedAt": .null],
                sort: ["createdAt": -1, "_id": -1], projection: ["members": 0])
        }
        // Without members (a group's can be a thousand): read with an empty list.
        return readable(
            documents.map { document in
                var document = document
                document["members"] = .array([])
                return document
            }, MongoDocuments.group
        ).map(\.group)
    }

    public func changeMembership(
        of group: ObjectID, _ change: GroupChange, by actor: ObjectID, at time: Timestamp, limits: GroupLimits
    ) async throws -> GroupChangeOutcome {
        for _ in 0..<Self.groupChangeAttempts {
            guard let current = try await openGroup(group) else { throw GroupChangeError.groupNotFound }
            var counts: [ObjectID: Int] = [:]
            if case .add(let users) = change {
                try GroupRoster.checkSize(of: users, limits: limits)
                counts = try await groupCounts(of: users)
            }
            let roster = GroupRoster(current.members)
            let outcome = try roster.apply(change, by: actor, at: time, limits: limits, groupCounts: counts)
            guard !outcome.isEmpty else { return outcome }
            // The members in the order they joined, as the document keeps them.
            let next = roster.applying(outcome).members.values.sorted {
                ($0.joinedAt, $0.userID) < ($1.joinedAt, $1.userID)
            }
            var set: BSONDocument = [
                "members": .array(next.map { .document(MongoDocuments.document($0)) }), "updatedAt": .date(time),
            ]
            if outcome.closed { set["closedAt"] = .date(time) }
            if try await replace(group, as: current, set: set) {
                var changed = current.group
                changed.updatedAt = time
                await announce(.groupChanged(GroupNotice(outcome, of: change, group: changed, by: actor, at: time)))
                return outcome
            }
            try await Self.backOff()
        }
        throw StoreError.unavailable("The group is changing too fast; try again")
    }

    /// Right after the change (MongoDB has no transaction to put it in): to this process's
    /// sockets alone, or through the database to every instance.
    private func announce(_ event: ClusterEvent) async {
        guard eventBus.isShared else { return eventBus.deliver(event) }
        do {
            try await eventBus.publish(event)
        } catch {
            logger.warning(
                "A group change could not be announced to other instances", metadata: ["error": "\(error)"])
        }
    }

    public func updateGroup(id: ObjectID, by actor: ObjectID, changes: GroupChanges, at time: Timestamp)
        async throws -> (previous: Group, updated: Group)
    {
        for _ in 0..<Self.groupChangeAttempts {
            guard let current = try await openGroup(id),
                let role = current.members.first(where: { $0.userID == actor })?.role
            else { throw GroupChangeError.groupNotFound }
            guard role.manages else { throw GroupChangeError.forbidden("Only owners and admins change the group") }
            let updated = current.group.applying(changes, at: time)
            var set: BSONDocument = [
                "name": .string(updated.name), "avatar": .string(updated.avatar), "updatedAt": .date(time),
            ]
            set["avatarMediaId"] = updated.avatarMediaID.map { .string($0) } ?? .null
            if try await replace(id, as: current, set: set) { return (current.group, updated) }
            try await Self.backOff()
        }
        throw StoreError.unavailable("The group is changing too fast; try again")
    }

    /// An open group as read: its members and version, and the document's members as stored.
    private struct ReadGroup {
        let group: Group
        let members: [GroupMember]
        let version: BSON?
        let storedMembers: BSON?
    }

    private func openGroup(_ id: ObjectID) async throws -> ReadGroup? {
        let documents = try await call { connection in
            try connection.find(MongoDocuments.groups, filter: ["_id": .objectID(id), "closedAt": .null], limit: 1)
        }
        guard let document = documents.first, let read = readable([document], MongoDocuments.group).first else {
            return nil
        }
        return ReadGroup(
            group: read.group, members: read.members, version: read.version, storedMembers: document["members"])
    }

    /// Sets `set` on the group (and increments its version) if its version and members are still
    /// the ones read; `false` when another change, Parley's or another program's, came first.
    private func replace(_ id: ObjectID, as read: ReadGroup, set: BSONDocument) async throws -> Bool {
        let filter: BSONDocument = [
            "_id": .objectID(id), "version": read.version ?? .null, "members": read.storedMembers ?? .null,
        ]
        let result = try await call { connection in
            try connection.update(
                MongoDocuments.groups, filter: filter, update: ["$set": .document(set), "$inc": ["version": 1]])
        }
        return result.count == 1
    }

    /// A few milliseconds, at random, before trying a contended change again.
    private static func backOff() async throws {
        try await Task.sleep(for: .milliseconds(Int.random(in: 1...10)))
    }

    /// How many open groups each of `users` that exists (and is not deleted) is in.
    private func groupCounts(of users: [ObjectID]) async throws -> [ObjectID: Int] {
        let ids = Array(Set(users))
        guard !ids.isEmpty else { return [:] }
        return try await call { connection in
            let existing = try connection.find(
                MongoDocuments.users,
                filter: ["_id": ["$in": .array(ids.map { .objectID($0) })], "deletedAt": ["$exists": false]],
                projection: ["_id": 1])
            var counts: [ObjectID: Int] = [:]
            for document in existing {
                guard case .objectID(let id)? = document["_id"] else { continue }
                counts[id] = try connection.count(
                    MongoDocuments.groups, filter: ["members.userId": .objectID(id), "closedAt": .null])
            }
            return counts
        }
    }
}
#endif
