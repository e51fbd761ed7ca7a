import Logging
import ParleyDomain
import PostgresNIO

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Groups in `groups` and `group_members` (migration 0010). A change locks its group's row first,
/// so changes to one group are decided one after the other.
extension PostgresStore {
    typealias GroupRow = (String, String, String, String?, Date, Date, Date?)
    typealias MemberRow = (String, String, Date)

    static let groupColumns = "g.id, g.name, g.avatar, g.avatar_media_id, g.created_at, g.updated_at, g.closed_at"

    public func createGroup(_ group: Group, owner: ObjectID, members: [ObjectID], limits: GroupLimits) async throws
        -> [GroupMember]
    {
        try await perform { client in
            try await client.withTransaction(logger: self.logger) { connection in
                let founder = GroupMember(userID: owner, role: .owner, joinedAt: group.createdAt)
                try GroupRoster.checkSize(of: members, limits: limits)
                let counts = try await Self.groupCounts(of: [owner] + members, on: connection, logger: self.logger)
                guard let owned = counts[owner] else { throw GroupChangeError.unknownUsers([owner]) }
                guard owned < limits.maxGroupsPerUser else {
                    throw GroupChangeError.tooManyGroups([owner], limit: limits.maxGroupsPerUser)
                }
                let outcome = try GroupRoster([founder]).apply(
                    .add(members), by: owner, at: group.createdAt, limits: limits, groupCounts: counts)
                try await connection.run(
                    """
                    INSERT INTO groups (id, name, avatar, avatar_media_id, created_at, updated_at)
                    VALUES (\(group.id.hexString), \(group.name), \(group.avatar), \(group.avatarMediaID),
                            \(group.createdAt.postgres), \(group.updatedAt.postgres))
                    """,
                    logger: self.logger)
                let all = [founder] + outcome.added
                try await Self.insert(all, into: group.id, on: connection, logger: self.logger)
                return all
            }
        }
    }

    public func group(id: ObjectID, visibleTo user: ObjectID) async throws
        -> (group: Group, members: [GroupMember])?
    {
        try await perform { client in
            let rows = try await client.query(
                """
                SELECT \(unescaped: Self.groupColumns), m.user_id, m.role, m.joined_at
                FROM groups AS g JOIN group_members AS m ON m.group_id = g.id
                WHERE g.id = \(id.hexString) AND g.closed_at IS NULL
                  AND EXISTS (SELECT 1 FROM group_members WHERE group_id = \(id.hexString) AND user_id = \(user.hexString))
                ORDER BY m.joined_at, m.user_id
                """,
                logger: self.logger)
            var group: Group?
            var members: [GroupMember] = []
            for try await row in rows.decode(
                (String, String, String, String?, Date, Date, Date?, String, String, Date).self)
            {
                if group == nil { group = try Self.group((row.0, row.1, row.2, row.3, row.4, row.5, row.6)) }
                members.append(try Self.member((row.7, row.8, row.9)))
            }
            return group.map { ($0, members) }
        }
    }

    public func groups(of user: ObjectID) async throws -> [Group] {
        try await perform { client in
            // Read by every connecting socket: prepared (PostgresRecoveryStatements).
            let rows = try await client.withConnection { connection in
                try await connection.rows(
                    of: PostgresRecoveryStatements.GroupsOf(user: user.hexString), logger: self.logger)
            }
            var groups: [Group] = []
            for row in rows { groups.append(try Self.group(row)) }
            return groups
        }
    }

    public func changeMembership(
        of group: ObjectID, _ change: GroupChange, by actor: ObjectID, at time: Timestamp, limits: GroupLimits
    ) async throws -> GroupChangeOutcome {
        try await perform { client in
            try await client.withTransaction(logger: self.logger) { connection in
                let locked = try await connection.query(
                    """
                    SELECT \(unescaped: Self.groupColumns) FROM groups AS g
                    WHERE g.id = \(group.hexString) AND g.closed_at IS NULL FOR UPDATE
                    """,
                    logger: self.logger)
                var found: Group?
                for try await row in locked.decode(GroupRow.self) { found = try Self.group(row) }
                guard var current = found else { throw GroupChangeError.groupNotFound }
                let rows = try await connection.query(
                    "SELECT user_id, role, joined_at FROM group_members WHERE group_id = \(group.hexString)",
                    logger: self.logger)
                var members: [GroupMember] = []
                for try await row in rows.decode(MemberRow.self) { members.append(try Self.member(row)) }
                var counts: [ObjectID: Int] = [:]
                if case .add(let users) = change {
                    try GroupRoster.checkSize(of: users, limits: limits)
                    counts = try await Self.groupCounts(of: users, on: connection, logger: self.logger)
                }
                let outcome = try GroupRoster(members).apply(
                    change, by: actor, at: time, limits: limits, groupCounts: counts)
                guard !outcome.isEmpty else { return outcome }
                let removed = outcome.removed.map(\.hexString)
                if !removed.isEmpty {
                    try await connection.run(
                        "DELETE FROM group_members WHERE group_id = \(group.hexString) AND user_id = ANY(\(removed))",
                        logger: self.logger)
                }
                try await Self.insert(outcome.added, into: group, on: connection, logger: self.logger)
                // Demotions before the new owner: one owner at a time.
                for (user, role) in outcome.roles.sorted(by: { $0.value > $1.value }) {
                    try await connection.run(
                        """
                        UPDATE group_members SET role = \(role.rawValue)
                        WHERE group_id = \(group.hexString) AND user_id = \(user.hexString)
                        """,
                        logger: self.logger)
                }
                let closed: PostgresTimestamp? = outcome.closed ? time.postgres : nil
                try await connection.run(
                    "UPDATE groups SET updated_at = \(time.postgres), closed_at = \(closed) WHERE id = \(group.hexString)",
                    logger: self.logger)
                // Announced in this transaction, under the order lock (taken after the group's
                // row, as a group message takes them): in order with the group's messages.
                current.updatedAt = time
                let event = ClusterEvent.groupChanged(
                    GroupNotice(outcome, of: change, group: current, by: actor, at: time))
                let keys = StoredEvent.hearers(of: event)?.map(\.hexString) ?? []
                try await connection.run(
                    "SELECT parley_log_group_change(\(keys), \(event.encoded()))", logger: self.logger)
                return outcome
            }
        }
    }

    public func updateGroup(id: ObjectID, by actor: ObjectID, changes: GroupChanges, at time: Timestamp)
        async throws -> (previous: Group, updated: Group)
    {
        try await perform { client in
            try await client.withTransaction(logger: self.logger) { connection in
                // The group's lock first, then the actor's role in a statement of its own: read
                // after the lock, as it is now (a join locking only the group would keep the
                // member row it read before waiting).
                try await connection.run(
                    "SELECT 1 FROM groups WHERE id = \(id.hexString) AND closed_at IS NULL FOR UPDATE",
                    logger: self.logger)
                let rows = try await connection.query(
                    """
                    SELECT \(unescaped: Self.groupColumns), m.role
                    FROM groups AS g JOIN group_members AS m ON m.group_id = g.id
                    WHERE g.id = \(id.hexString) AND g.closed_at IS NULL AND m.user_id = \(actor.hexString)
                    """,
                    logger: self.logger)
                var found: (Group, String)?
                for try await row in rows.decode((String, String, String, String?, Date, Date, Date?, String).self) {
                    found = (try Self.group((row.0, row.1, row.2, row.3, row.4, row.5, row.6)), row.7)
                }
                guard let (previous, role) = found else { throw GroupChangeError.groupNotFound }
                guard GroupRole(rawValue: role)?.manages == true else {
                    throw GroupChangeError.forbidden("Only owners and admins change the group")
                }
                let updated = previous.applying(changes, at: time)
                try await connection.run(
                    """
                    UPDATE groups SET name = \(updated.name), avatar = \(updated.avatar),
                        avatar_media_id = \(updated.avatarMediaID), updated_at = \(time.postgres)
                    WHERE id = \(id.hexString)
                    """,
                    logger: self.logger)
                return (previous, updated)
            }
        }
    }

    /// How many groups each of `users` that exists (and is not deleted) is a member of. Their
    /// rows are locked first (FOR NO KEY UPDATE, in id order so two changes cannot wait on each
    /// other in a cycle), and counted in a statement of its own: two groups adding the same user
    /// at once are counted one after the other, and no user is deleted before the change commits.
    static func groupCounts(of users: [ObjectID], on connection: PostgresConnection, logger: Logger) async throws
        -> [ObjectID: Int]
    {
        let ids = Array(Set(users.map(\.hexString)))
        guard !ids.isEmpty else { return [:] }
        try await connection.run(
            """
            SELECT 1 FROM (SELECT id FROM users WHERE id = ANY(\(ids)) AND deleted_at IS NULL ORDER BY id
                           FOR NO KEY UPDATE) AS locked
            """,
            logger: logger)
        let rows = try await connection.query(
            """
            SELECT u.id, (SELECT count(*) FROM group_members AS m WHERE m.user_id = u.id)
            FROM users AS u WHERE u.id = ANY(\(ids)) AND u.deleted_at IS NULL
            """,
            logger: logger)
        var counts: [ObjectID: Int] = [:]
        for try await (id, count) in rows.decode((String, Int64).self) {
            guard let user = ObjectID(id) else { throw CorruptRow(column: "users.id") }
            counts[user] = Int(count)
        }
        return counts
    }

    static func insert(
        _ members: [GroupMember], into group: ObjectID, on connection: PostgresConnection, logger: Logger
    )
        async throws
    {
        guard !members.isEmpty else { return }
        let users = members.map(\.userID.hexString)
        let roles = members.map(\.role.rawValue)
        let joined = members.map(\.joinedAt.millisecondsSince1970)
        try await connection.run(
            """
            INSERT INTO group_members (group_id, user_id, role, joined_at)
            SELECT \(group.hexString), m.user_id, m.role, timestamptz 'epoch' + m.joined * interval '1 millisecond'
            FROM unnest(\(users)::text[], \(roles)::text[], \(joined)::bigint[]) AS m(user_id, role, joined)
            """,
            logger: logger)
    }

    static func group(_ row: GroupRow) throws -> Group {
        guard let id = ObjectID(row.0) else { throw CorruptRow(column: "groups.id") }
        return Group(
            id: id, name: row.1, avatar: row.2, avatarMediaID: row.3, createdAt: Timestamp(row.4),
            updatedAt: Timestamp(row.5), closedAt: row.6.map(Timestamp.init))
    }

    static func member(_ row: MemberRow) throws -> GroupMember {
        guard let user = ObjectID(row.0), let role = GroupRole(rawValue: row.1) else {
            throw CorruptRow(column: "group_members")
        }
        return GroupMember(userID: user, role: role, joinedAt: Timestamp(row.2))
    }
}
