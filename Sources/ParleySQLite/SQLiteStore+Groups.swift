import ParleyDomain
import SQLiteNIO

/// Groups in `groups` and `group_members`. Every change runs in one transaction of the single
/// writer, so it is decided against the roster as it is then.
extension SQLiteStore {
    static let groupColumns = "g.id, g.name, g.avatar, g.avatar_media_id, g.created_at, g.updated_at, g.closed_at"

    public func createGroup(_ group: Group, owner: ObjectID, members: [ObjectID], limits: GroupLimits) async throws
        -> [GroupMember]
    {
        try await writeTransaction { connection in
            let founder = GroupMember(userID: owner, role: .owner, joinedAt: group.createdAt)
            try GroupRoster.checkSize(of: members, limits: limits)
            let counts = try await Self.groupCounts(of: [owner] + members, on: connection)
            guard let owned = counts[owner] else { throw GroupChangeError.unknownUsers([owner]) }
            guard owned < limits.maxGroupsPerUser else {
                throw GroupChangeError.tooManyGroups([owner], limit: limits.maxGroupsPerUser)
            }
            let outcome = try GroupRoster([founder]).apply(
                .add(members), by: owner, at: group.createdAt, limits: limits, groupCounts: counts)
            _ = try await connection.query(
                """
                INSERT INTO groups (id, name, avatar, avatar_media_id, created_at, updated_at, closed_at)
                VALUES (?, ?, ?, ?, ?, ?, NULL)
                """,
                [
                    .text(group.id.hexString), .text(group.name), .text(group.avatar),
                    group.avatarMediaID.map { .text($0) } ?? .null, Self.time(group.createdAt),
                    Self.time(group.updatedAt),
                ])
            let all = [founder] + outcome.added
            try await Self.insert(all, into: group.id, on: connection)
            return all
        }
    }

    public func group(id: ObjectID, visibleTo user: ObjectID) async throws
        -> (group: Group, members: [GroupMember])?
    {
        // One statement, one snapshot: the group and its members as they were together.
        let rows = try await read(
            """
            SELECT \(Self.groupColumns), m.user_id, m.role, m.joined_at
            FROM groups AS g JOIN group_members AS m ON m.group_id = g.id
            WHERE g.id = ?1 AND g.closed_at IS NULL
              AND EXISTS (SELECT 1 FROM group_members WHERE group_id = ?1 AND user_id = ?2)
            ORDER BY m.joined_at, m.user_id
            """,
            [.text(id.hexString), .text(user.hexString)])
        guard let first = rows.first else { return nil }
        return (try Self.group(first), try rows.map(Self.member))
    }

    public func groups(of user: ObjectID) async throws -> [Group] {
        let rows = try await read(
            """
            SELECT \(Self.groupColumns) FROM group_members AS m JOIN groups AS g ON g.id = m.group_id
            WHERE m.user_id = ? AND g.closed_at IS NULL
            ORDER BY g.created_at DESC, g.id DESC
            """,
            [.text(user.hexString)])
        return try rows.map(Self.group)
    }

    public func changeMembership(
        of group: ObjectID, _ change: GroupChange, by actor: ObjectID, at time: Timestamp, limits: GroupLimits
    ) async throws -> GroupChangeOutcome {
        try await write { [events] connection in
            let (outcome, announced) = try await Self.inTransaction(connection) {
                connection -> (GroupChangeOutcome, StoredEvent?) in
                let found = try await connection.query(
                    "SELECT \(Self.groupColumns) FROM groups AS g WHERE g.id = ? AND g.closed_at IS NULL",
                    [.text(group.hexString)])
                guard let row = found.first else { throw GroupChangeError.groupNotFound }
                var current = try Self.group(row)
                let rows = try await connection.query(
                    "SELECT user_id, role, joined_at FROM group_members WHERE group_id = ?", [.text(group.hexString)])
                let roster = GroupRoster(try rows.map(Self.member))
                var counts: [ObjectID: Int] = [:]
                if case .add(let users) = change {
                    try GroupRoster.checkSize(of: users, limits: limits)
                    counts = try await Self.groupCounts(of: users, on: connection)
                }
                let outcome = try roster.apply(change, by: actor, at: time, limits: limits, groupCounts: counts)
                guard !outcome.isEmpty else { return (outcome, nil) }
                for user in outcome.removed {
                    _ = try await connection.query(
                        "DELETE FROM group_members WHERE group_id = ? AND user_id = ?",
                        [.text(group.hexString), .text(user.hexString)])
                }
                try await Self.insert(outcome.added, into: group, on: connection)
                // Demotions before the new owner: one owner at a time.
                for (user, role) in outcome.roles.sorted(by: { $0.value > $1.value }) {
                    _ = try await connection.query(
                        "UPDATE group_members SET role = ? WHERE group_id = ? AND user_id = ?",
                        [.text(role.rawValue), .text(group.hexString), .text(user.hexString)])
                }
                _ = try await connection.query(
                    "UPDATE groups SET updated_at = ?, closed_at = ? WHERE id = ?",
                    [Self.time(time), outcome.closed ? Self.time(time) : .null, .text(group.hexString)])
                // Announced in this write: in order with the group's messages.
                current.updatedAt = time
                let event = ClusterEvent.groupChanged(
                    GroupNotice(outcome, of: change, group: current, by: actor, at: time))
                let position = try await Self.logChange(
                    event, for: StoredEvent.hearers(of: event) ?? [], on: connection)
                return (outcome, StoredEvent(event: event, position: Int64(position)))
            }
            if let announced { events.deliver(.stored(announced)) }
            return outcome
        }
    }

    public func updateGroup(id: ObjectID, by actor: ObjectID, changes: GroupChanges, at time: Timestamp)
        async throws -> (previous: Group, updated: Group)
    {
        try await writeTransaction { connection in
            let rows = try await connection.query(
                """
                SELECT \(Self.groupColumns), m.role FROM groups AS g JOIN group_members AS m ON m.group_id = g.id
                WHERE g.id = ? AND g.closed_at IS NULL AND m.user_id = ?
                """,
                [.text(id.hexString), .text(actor.hexString)])
            guard let row = rows.first else { throw GroupChangeError.groupNotFound }
            guard case .text(let role) = row.column("role"), GroupRole(rawValue: role)?.manages == true else {
                throw GroupChangeError.forbidden("Only owners and admins change the group")
            }
            let previous = try Self.group(row)
            let updated = previous.applying(changes, at: time)
            _ = try await connection.query(
                "UPDATE groups SET name = ?, avatar = ?, avatar_media_id = ?, updated_at = ? WHERE id = ?",
                [
                    .text(updated.name), .text(updated.avatar), updated.avatarMediaID.map { .text($0) } ?? .null,
                    Self.time(time), .text(id.hexString),
                ])
            return (previous, updated)
        }
    }

    /// How many groups each of `users` that exists (and is not deleted) is a member of.
    static func groupCounts(of users: [ObjectID], on connection: SQLiteConnection) async throws -> [ObjectID: Int] {
        let ids = Array(Set(users))
        guard !ids.isEmpty else { return [:] }
        var counts: [ObjectID: Int] = [:]
        // In slices, well below SQLite's limit on bound parameters.
        for start in stride(from: 0, to: ids.count, by: 500) {
            let slice = ids[start..<min(start + 500, ids.count)]
            let rows = try await connection.query(
                """
                SELECT u.id, (SELECT count(*) FROM group_members AS m WHERE m.user_id = u.id) AS groups
                FROM users AS u WHERE u.deleted_at IS NULL AND u.id IN (\(slice.map { _ in "?" }.joined(separator: ", ")))
                """,
                slice.map { .text($0.hexString) })
            for row in rows {
                let decoder = SQLiteRowDecoder(row)
                counts[try decoder.id("id")] = row.column("groups")?.integer ?? 0
            }
        }
        return counts
    }

    static func insert(_ members: [GroupMember], into group: ObjectID, on connection: SQLiteConnection) async throws {
        for member in members {
            _ = try await connection.query(
                "INSERT INTO group_members (group_id, user_id, role, joined_at) VALUES (?, ?, ?, ?)",
                [
                    .text(group.hexString), .text(member.userID.hexString), .text(member.role.rawValue),
                    time(member.joinedAt),
                ])
        }
    }

    static func time(_ time: Timestamp) -> SQLiteData { .integer(Int(time.millisecondsSince1970)) }

    static func group(_ row: SQLiteRow) throws -> Group {
        let decoder = SQLiteRowDecoder(row)
        return Group(
            id: try decoder.id("id"), name: try decoder.text("name"), avatar: try decoder.text("avatar"),
            avatarMediaID: decoder.optionalText("avatar_media_id"), createdAt: try decoder.timestamp("created_at"),
            updatedAt: try decoder.timestamp("updated_at"), closedAt: try decoder.optionalTimestamp("closed_at"))
    }

    static func member(_ row: SQLiteRow) throws -> GroupMember {
        let decoder = SQLiteRowDecoder(row)
        guard let role = GroupRole(rawValue: try decoder.text("role")) else {
            throw SQLiteRowDecoder.CorruptRow(column: "group_members.role")
        }
        return GroupMember(userID: try decoder.id("user_id"), role: role, joinedAt: try decoder.timestamp("joined_at"))
    }
}
