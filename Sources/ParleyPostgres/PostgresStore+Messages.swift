import ParleyChat
import PostgresNIO

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension PostgresStore {
    typealias MessageRow = (String, String, String, String?, String?, String?, Date, Date)

    static let messageColumns = "id, sender_id, receiver_id, text, image, image_media_id, created_at, updated_at"

    /// Inserts through ``PostgresMessageWriter``: batched with concurrent sends, in `seq` order
    /// within each conversation, so the order clients hear messages in (commit order, through the
    /// trigger's NOTIFY) is the order pages list them in.
    public func insertMessage(_ message: Message) async throws {
        try await perform { _ in try await self.messageWriter.insert(message) }
    }

    public func conversation(_ query: ConversationQuery) async throws -> [Message] {
        let (low, high) = query.participants
        return try await perform { client in
            var bindings = PostgresBindings()
            bindings.append(low.hexString)
            bindings.append(high.hexString)
            var sql = "SELECT \(Self.messageColumns) FROM messages WHERE user_lo = $1 AND user_hi = $2"
            if let before = query.before {
                bindings.append(try await self.sequenceNumber(of: before, low: low, high: high, client: client))
                sql += " AND seq < $\(bindings.count)"
            }
            if let after = query.after {
                bindings.append(try await self.sequenceNumber(of: after, low: low, high: high, client: client))
                sql += " AND seq > $\(bindings.count)"
            }
            bindings.append(query.limit)
            sql += " ORDER BY seq \(query.readsNewestFirst ? "DESC" : "ASC") LIMIT $\(bindings.count)"
            let rows = try await client.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: self.logger)
            var messages: [Message] = []
            for try await row in rows.decode(MessageRow.self) {
                messages.append(try Self.message(row))
            }
            return query.readsNewestFirst ? messages.reversed() : messages
        }
    }

    private func sequenceNumber(of id: ObjectID, low: ObjectID, high: ObjectID, client: PostgresClient) async throws
        -> Int64
    {
        let rows = try await client.query(
            """
            SELECT seq FROM messages
            WHERE id = \(id.hexString) AND user_lo = \(low.hexString) AND user_hi = \(high.hexString)
            """,
            logger: logger
        )
        for try await seq in rows.decode(Int64.self) {
            return seq
        }
        throw StoreError.cursorNotFound
    }

    static func message(_ row: MessageRow) throws -> Message {
        guard let id = ObjectID(row.0), let sender = ObjectID(row.1), let receiver = ObjectID(row.2) else {
            throw CorruptRow(column: "messages.id")
        }
        return Message(
            id: id,
            senderID: sender,
            receiverID: receiver,
            text: row.3,
            image: row.4,
            imageMediaID: row.5,
            createdAt: Timestamp(row.6),
            updatedAt: Timestamp(row.7)
        )
    }
}
