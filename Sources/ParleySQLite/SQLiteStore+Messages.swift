import ParleyChat
import SQLiteNIO

extension SQLiteStore {
    static let messageColumns =
        "id, sender_id, receiver_id, text, image, image_media_id, created_at, updated_at"

    public func insertMessage(_ message: Message) async throws {
        let (low, high) =
            message.senderID < message.receiverID
            ? (message.senderID, message.receiverID) : (message.receiverID, message.senderID)
        let binds: [SQLiteData] = [
            .text(message.id.hexString), .text(message.senderID.hexString), .text(message.receiverID.hexString),
            .text(low.hexString), .text(high.hexString),
            message.text.map { .text($0) } ?? .null, message.image.map { .text($0) } ?? .null,
            message.imageMediaID.map { .text($0) } ?? .null,
            .integer(Int(message.createdAt.millisecondsSince1970)),
            .integer(Int(message.updatedAt.millisecondsSince1970)),
        ]
        try await write { [events] connection in
            _ = try await connection.query(
                """
                INSERT INTO messages (id, sender_id, receiver_id, user_lo, user_hi, text, image, image_media_id,
                                      created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
                binds
            )
            // Still inside the write queue: events leave in the order messages were stored.
            events.deliver(.messageCreated(message))
        }
    }

    public func conversation(_ query: ConversationQuery) async throws -> [Message] {
        let (low, high) = query.participants
        var conditions = ["user_lo = ?", "user_hi = ?"]
        var binds: [SQLiteData] = [.text(low.hexString), .text(high.hexString)]
        if let before = query.before {
            conditions.append("seq < ?")
            binds.append(.integer(try await sequenceNumber(of: before, low: low, high: high)))
        }
        if let after = query.after {
            conditions.append("seq > ?")
            binds.append(.integer(try await sequenceNumber(of: after, low: low, high: high)))
        }
        binds.append(.integer(query.limit))
        let order = query.readsNewestFirst ? "DESC" : "ASC"
        let rows = try await reader.query(
            """
            SELECT \(Self.messageColumns) FROM messages
            WHERE \(conditions.joined(separator: " AND "))
            ORDER BY seq \(order) LIMIT ?
            """,
            binds
        )
        let messages = try rows.map(Self.message)
        return query.readsNewestFirst ? messages.reversed() : messages
    }

    private func sequenceNumber(of id: ObjectID, low: ObjectID, high: ObjectID) async throws -> Int {
        let rows = try await reader.query(
            "SELECT seq FROM messages WHERE id = ? AND user_lo = ? AND user_hi = ?",
            [.text(id.hexString), .text(low.hexString), .text(high.hexString)]
        )
        guard let seq = rows.first?.column("seq")?.integer else { throw StoreError.cursorNotFound }
        return seq
    }

    static func message(_ row: SQLiteRow) throws -> Message {
        let decoder = SQLiteRowDecoder(row)
        return Message(
            id: try decoder.id("id"),
            senderID: try decoder.id("sender_id"),
            receiverID: try decoder.id("receiver_id"),
            text: decoder.optionalText("text"),
            image: decoder.optionalText("image"),
            imageMediaID: decoder.optionalText("image_media_id"),
            createdAt: try decoder.timestamp("created_at"),
            updatedAt: try decoder.timestamp("updated_at")
        )
    }
}
