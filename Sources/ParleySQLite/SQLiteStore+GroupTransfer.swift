import ParleyDomain
import SQLiteNIO

/// Groups, their members, read positions and messages for `parley copy`.
extension SQLiteStore {
    /// Whether this file has groups (schema version 6) and group messages (version 7): a source
    /// is never migrated.
    private func schemaVersion() async throws -> Int {
        try await read("PRAGMA user_version").first?.column("user_version")?.integer ?? 0
    }

    public func countGroups() async throws -> Int {
        guard try await schemaVersion() >= 6 else { return 0 }
        return try await read("SELECT count(*) AS n FROM groups").first?.column("n")?.integer ?? 0
    }

    public func countGroupMessages() async throws -> Int {
        guard try await schemaVersion() >= 7 else { return 0 }
        return try await read("SELECT count(*) AS n FROM group_messages").first?.column("n")?.integer ?? 0
    }

    public func exportGroups(after: ObjectID?, limit: Int) async throws -> [ExportedGroup] {
        let version = try await schemaVersion()
        guard version >= 6 else { return [] }
        let rows = try await read(
            "SELECT \(Self.groupColumns) FROM groups AS g WHERE g.id > ? ORDER BY g.id LIMIT ?",
            [.text(after?.hexString ?? ""), .integer(limit)])
        let groups = try rows.map(Self.group)
        guard let first = groups.first, let last = groups.last else { return [] }
        let readColumns = version >= 7 ? "read_up_to, read_at" : "NULL AS read_up_to, NULL AS read_at"
        let memberRows = try await read(
            """
            SELECT group_id, user_id, role, joined_at, \(readColumns) FROM group_members
            WHERE group_id >= ? AND group_id <= ? ORDER BY group_id, joined_at, user_id
            """,
            [.text(first.id.hexString), .text(last.id.hexString)])
        var members: [ObjectID: [GroupMember]] = [:]
        var reads: [ObjectID: [GroupReadReceipt]] = [:]
        for row in memberRows {
            let decoder = SQLiteRowDecoder(row)
            let group = try decoder.id("group_id")
            let member = try Self.member(row)
            members[group, default: []].append(member)
            if case .text = row.column("read_up_to") {
                reads[group, default: []].append(
                    GroupReadReceipt(
                        groupID: group, by: member.userID, upTo: try decoder.id("read_up_to"),
                        readAt: try decoder.timestamp("read_at")))
            }
        }
        return groups.map { ExportedGroup(group: $0, members: members[$0.id] ?? [], reads: reads[$0.id] ?? []) }
    }

    public func exportGroupMessages(after: ObjectID?, limit: Int) async throws -> [GroupMessage] {
        guard try await schemaVersion() >= 7 else { return [] }
        var seq = 0
        if let after {
            let found = try await read("SELECT seq FROM group_messages WHERE id = ?", [.text(after.hexString)])
            guard let value = found.first?.column("seq")?.integer else { throw StoreError.cursorNotFound }
            seq = value
        }
        return try await read(
            "SELECT \(Self.groupMessageColumns) FROM group_messages AS gm WHERE gm.seq > ? ORDER BY gm.seq LIMIT ?",
            [.integer(seq), .integer(limit)]
        ).map(Self.groupMessage)
    }

    public func groupMessagesByID(after: ObjectID?, limit: Int) async throws -> [GroupMessage] {
        guard try await schemaVersion() >= 7 else { return [] }
        return try await read(
            "SELECT \(Self.groupMessageColumns) FROM group_messages AS gm WHERE gm.id > ? ORDER BY gm.id LIMIT ?",
            [.text(after?.hexString ?? ""), .integer(limit)]
        ).map(Self.groupMessage)
    }

    public func importGroups(_ groups: [ExportedGroup]) async throws -> Int {
        guard !groups.isEmpty else { return 0 }
        return try await writeTransaction { connection in
            var inserted = 0
            for exported in groups {
                let group = exported.group
                _ = try await connection.query(
                    """
                    INSERT INTO groups (id, name, avatar, avatar_media_id, created_at, updated_at, closed_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING
                    """,
                    [
                        .text(group.id.hexString), .text(group.name), .text(group.avatar),
                        group.avatarMediaID.map { .text($0) } ?? .null, Self.time(group.createdAt),
                        Self.time(group.updatedAt), group.closedAt.map(Self.time) ?? .null,
                    ])
                guard try await connection.query("SELECT changes() AS n").first?.column("n")?.integer == 1 else {
                    continue
                }
                inserted += 1
                try await Self.insert(exported.members, into: group.id, on: connection)
            }
            return inserted
        }
    }

    public func importGroupMessages(_ messages: [GroupMessage]) async throws -> Int {
        guard !messages.isEmpty else { return 0 }
        return try await writeTransaction { connection in
            var inserted = 0
            for message in messages {
                let exists = try await connection.query(
                    "SELECT 1 FROM group_messages WHERE id = ?", [.text(message.id.hexString)])
                guard exists.isEmpty else { continue }
                let position = try await Self.nextPosition(connection)
                _ = try await connection.query(
                    """
                    INSERT INTO group_messages (seq, id, group_id, sender_id, text, image, image_media_id, created_at,
                                                updated_at, edited_at, deleted_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                    [
                        .integer(position), .text(message.id.hexString), .text(message.groupID.hexString),
                        .text(message.senderID.hexString), message.text.map { .text($0) } ?? .null,
                        message.image.map { .text($0) } ?? .null, message.imageMediaID.map { .text($0) } ?? .null,
                        Self.time(message.createdAt), Self.time(message.updatedAt),
                        message.editedAt.map(Self.time) ?? .null, message.deletedAt.map(Self.time) ?? .null,
                    ])
                _ = try await connection.query(
                    "UPDATE groups SET last_seq = max(last_seq, ?) WHERE id = ?",
                    [.integer(position), .text(message.groupID.hexString)])
                inserted += 1
            }
            return inserted
        }
    }

    public func importReadPositions(_ reads: [GroupReadReceipt]) async throws -> Int {
        guard !reads.isEmpty else { return 0 }
        return try await writeTransaction { connection in
            var moved = 0
            for read in reads {
                _ = try await connection.query(
                    """
                    UPDATE group_members SET read_seq = m.seq, read_up_to = ?, read_at = ?
                    FROM (SELECT seq FROM group_messages WHERE id = ? AND group_id = ?) AS m
                    WHERE group_id = ? AND user_id = ? AND read_seq < m.seq
                    """,
                    [
                        .text(read.upTo.hexString), Self.time(read.readAt), .text(read.upTo.hexString),
                        .text(read.groupID.hexString), .text(read.groupID.hexString), .text(read.by.hexString),
                    ])
                moved += try await connection.query("SELECT changes() AS n").first?.column("n")?.integer ?? 0
            }
            return moved
        }
    }
}
