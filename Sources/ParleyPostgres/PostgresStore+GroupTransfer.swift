import Logging
import ParleyDomain
import PostgresNIO

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Groups, their members, read positions and messages for `parley copy`. A batch is one
/// statement over arrays (`unnest`); groups and messages the target has are left as they are.
extension PostgresStore {
    public func countGroups() async throws -> Int {
        try await perform { client in
            guard try await self.hasTable("groups", client) else { return 0 }
            let rows = try await client.query("SELECT count(*) FROM groups", logger: self.logger)
            for try await count in rows.decode(Int64.self) { return Int(count) }
            return 0
        }
    }

    public func countGroupMessages() async throws -> Int {
        try await perform { client in
            guard try await self.hasTable("group_messages", client) else { return 0 }
            let rows = try await client.query("SELECT count(*) FROM group_messages", logger: self.logger)
            for try await count in rows.decode(Int64.self) { return Int(count) }
            return 0
        }
    }

    public func exportGroups(after: ObjectID?, limit: Int) async throws -> [ExportedGroup] {
        try await perform { client in
            guard try await self.hasTable("groups", client) else { return [] }
            let withReads = try await self.hasTable("group_messages", client)
            let rows = try await client.query(
                """
                SELECT \(unescaped: Self.groupColumns) FROM groups AS g
                WHERE g.id > \(after?.hexString ?? "") ORDER BY g.id LIMIT \(limit)
                """,
                logger: self.logger)
            var groups: [Group] = []
            for try await row in rows.decode(GroupRow.self) { groups.append(try Self.group(row)) }
            guard !groups.isEmpty else { return [] }
            let reads = withReads ? "read_up_to, read_at" : "NULL::text, NULL::timestamptz"
            let memberRows = try await client.query(
                """
                SELECT group_id, user_id, role, joined_at, \(unescaped: reads) FROM group_members
                WHERE group_id = ANY(\(groups.map(\.id.hexString))) ORDER BY group_id, joined_at, user_id
                """,
                logger: self.logger)
            var members: [String: [GroupMember]] = [:]
            var positions: [String: [GroupReadReceipt]] = [:]
            for try await row in memberRows.decode((String, String, String, Date, String?, Date?).self) {
                let member = try Self.member((row.1, row.2, row.3))
                members[row.0, default: []].append(member)
                if let upTo = row.4, let readAt = row.5 {
                    guard let group = ObjectID(row.0), let upTo = ObjectID(upTo) else {
                        throw CorruptRow(column: "group_members.read_up_to")
                    }
                    positions[row.0, default: []].append(
                        GroupReadReceipt(groupID: group, by: member.userID, upTo: upTo, readAt: Timestamp(readAt)))
                }
            }
            return groups.map { group in
                ExportedGroup(
                    group: group, members: members[group.id.hexString] ?? [],
                    reads: positions[group.id.hexString] ?? [])
            }
        }
    }

    public func exportGroupMessages(after: ObjectID?, limit: Int) async throws -> [GroupMessage] {
        try await perform { client in
            guard try await self.hasTable("group_messages", client) else { return [] }
            var seq: Int64 = 0
            if let after {
                let found = try await client.query(
                    "SELECT seq FROM group_messages WHERE id = \(after.hexString)", logger: self.logger)
                var value: Int64?
                for try await row in found.decode(Int64.self) { value = row }
                guard let value else { throw StoreError.cursorNotFound }
                seq = value
            }
            let rows = try await client.query(
                """
                SELECT \(unescaped: Self.groupMessageColumns) FROM group_messages AS gm
                WHERE gm.seq > \(seq) ORDER BY gm.seq LIMIT \(limit)
                """,
                logger: self.logger)
            return try await Self.groupMessages(rows)
        }
    }

    public func groupMessagesByID(after: ObjectID?, limit: Int) async throws -> [GroupMessage] {
        try await perform { client in
            guard try await self.hasTable("group_messages", client) else { return [] }
            let rows = try await client.query(
                """
                SELECT \(unescaped: Self.groupMessageColumns) FROM group_messages AS gm
                WHERE gm.id > \(after?.hexString ?? "") ORDER BY gm.id LIMIT \(limit)
                """,
                logger: self.logger)
            return try await Self.groupMessages(rows)
        }
    }

    public func importGroups(_ groups: [ExportedGroup]) async throws -> Int {
        guard !groups.isEmpty else { return 0 }
        return try await perform { client in
            try await client.withTransaction(logger: self.logger) { connection in
                let rows = try await connection.query(
                    """
                    INSERT INTO groups (id, name, avatar, avatar_media_id, created_at, updated_at, closed_at)
                    SELECT g.id, g.name, g.avatar, g.media_id,
                           timestamptz 'epoch' + g.created * interval '1 millisecond',
                           timestamptz 'epoch' + g.updated * interval '1 millisecond',
                           timestamptz 'epoch' + g.closed * interval '1 millisecond'
                    FROM unnest(
                        \(groups.map(\.group.id.hexString))::text[], \(groups.map(\.group.name))::text[],
                        \(groups.map(\.group.avatar))::text[],
                        \(NullableTextArray(groups.map(\.group.avatarMediaID)))::text[],
                        \(groups.map(\.group.createdAt.millisecondsSince1970))::bigint[],
                        \(groups.map(\.group.updatedAt.millisecondsSince1970))::bigint[],
                        \(NullableTextArray(groups.map { $0.group.closedAt.map { String($0.millisecondsSince1970) } }))::bigint[]
                    ) AS g(id, name, avatar, media_id, created, updated, closed)
                    ON CONFLICT (id) DO NOTHING
                    RETURNING id
                    """,
                    logger: self.logger)
                var inserted: Set<String> = []
                for try await id in rows.decode(String.self) { inserted.insert(id) }
                for exported in groups where inserted.contains(exported.group.id.hexString) {
                    try await Self.insert(
                        exported.members, into: exported.group.id, on: connection, logger: self.logger)
                }
                return inserted.count
            }
        }
    }

    public func importGroupMessages(_ messages: [GroupMessage]) async throws -> Int {
        guard !messages.isEmpty else { return 0 }
        return try await perform { client in
            try await client.withTransaction(logger: self.logger) { connection in
                let rows = try await connection.query(
                    """
                    WITH stored AS (
                        INSERT INTO group_messages (seq, id, group_id, sender_id, text, image, image_media_id,
                                                    created_at, updated_at, edited_at, deleted_at)
                        SELECT nextval(pg_get_serial_sequence('messages', 'seq')), m.id, m.group_id, m.sender, m.text,
                               m.image, m.media_id,
                               timestamptz 'epoch' + m.created * interval '1 millisecond',
                               timestamptz 'epoch' + m.updated * interval '1 millisecond',
                               timestamptz 'epoch' + m.edited * interval '1 millisecond',
                               timestamptz 'epoch' + m.deleted * interval '1 millisecond'
                        FROM unnest(
                            \(messages.map(\.id.hexString))::text[], \(messages.map(\.groupID.hexString))::text[],
                            \(messages.map(\.senderID.hexString))::text[], \(NullableTextArray(messages.map(\.text)))::text[],
                            \(NullableTextArray(messages.map(\.image)))::text[],
                            \(NullableTextArray(messages.map(\.imageMediaID)))::text[],
                            \(messages.map(\.createdAt.millisecondsSince1970))::bigint[],
                            \(messages.map(\.updatedAt.millisecondsSince1970))::bigint[],
                            \(NullableTextArray(messages.map { $0.editedAt.map { String($0.millisecondsSince1970) } }))::bigint[],
                            \(NullableTextArray(messages.map { $0.deletedAt.map { String($0.millisecondsSince1970) } }))::bigint[]
                        ) WITH ORDINALITY AS m(id, group_id, sender, text, image, media_id, created, updated, edited,
                                                deleted, n)
                        WHERE NOT EXISTS (SELECT 1 FROM group_messages AS e WHERE e.id = m.id)
                        ORDER BY m.n
                        ON CONFLICT (id) DO NOTHING
                        RETURNING group_id, seq
                    ), last AS (
                        UPDATE groups AS g SET last_seq = GREATEST(g.last_seq, s.seq)
                        FROM (SELECT group_id, max(seq) AS seq FROM stored GROUP BY group_id) AS s
                        WHERE g.id = s.group_id
                    )
                    SELECT count(*) FROM stored
                    """,
                    logger: self.logger)
                for try await count in rows.decode(Int64.self) { return Int(count) }
                return 0
            }
        }
    }

    public func importReadPositions(_ reads: [GroupReadReceipt]) async throws -> Int {
        guard !reads.isEmpty else { return 0 }
        return try await perform { client in
            let rows = try await client.query(
                """
                WITH moved AS (
                    UPDATE group_members AS gm SET read_seq = m.seq, read_up_to = r.up_to,
                        read_at = timestamptz 'epoch' + r.read * interval '1 millisecond'
                    FROM unnest(
                        \(reads.map(\.groupID.hexString))::text[], \(reads.map(\.by.hexString))::text[],
                        \(reads.map(\.upTo.hexString))::text[], \(reads.map(\.readAt.millisecondsSince1970))::bigint[]
                    ) AS r(group_id, user_id, up_to, read)
                    JOIN group_messages AS m ON m.id = r.up_to AND m.group_id = r.group_id
                    WHERE gm.group_id = r.group_id AND gm.user_id = r.user_id AND gm.read_seq < m.seq
                    RETURNING 1
                )
                SELECT count(*) FROM moved
                """,
                logger: self.logger)
            for try await count in rows.decode(Int64.self) { return Int(count) }
            return 0
        }
    }
}
