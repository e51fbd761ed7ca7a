import JSONText

/// One message from one user to another: text, an image, or both.
///
/// The JSON form follows the Node app's model (`_id`, `senderId`, `receiverId`, `text`, `image`,
/// `createdAt`, `updatedAt`); `text` and `image` are left out when absent, as Mongoose does.
/// Parley adds `readAt` (always present, `null` until the receiver read it) and, once they
/// happen, `editedAt` and `deletedAt` (a deleted message stays as a tombstone without text or
/// image, so clients can show "message deleted" in its place).
public struct Message: Sendable, Hashable {
    public var id: ObjectID
    public var senderID: ObjectID
    public var receiverID: ObjectID
    public var text: String?
    /// Image URL.
    public var image: String?
    /// The media store's id of the image, used to delete it.
    public var imageMediaID: String?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    /// When the receiver read it; `nil` until then.
    public var readAt: Timestamp?
    /// When its sender last changed its text.
    public var editedAt: Timestamp?
    /// When its sender deleted it; it keeps its place, without text or image.
    public var deletedAt: Timestamp?

    public init(
        id: ObjectID,
        senderID: ObjectID,
        receiverID: ObjectID,
        text: String?,
        image: String?,
        imageMediaID: String? = nil,
        createdAt: Timestamp,
        updatedAt: Timestamp,
        readAt: Timestamp? = nil,
        editedAt: Timestamp? = nil,
        deletedAt: Timestamp? = nil
    ) {
        self.id = id
        self.senderID = senderID
        self.receiverID = receiverID
        self.text = text
        self.image = image
        self.imageMediaID = imageMediaID
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.readAt = readAt
        self.editedAt = editedAt
        self.deletedAt = deletedAt
    }

    /// Whether `user` is the sender or the receiver.
    public func involves(_ user: ObjectID) -> Bool {
        senderID == user || receiverID == user
    }
}

extension Message: Codable {
    enum CodingKeys: String, CodingKey {
        case id = "_id"
        case senderID = "senderId"
        case receiverID = "receiverId"
        case text, image, createdAt, updatedAt, readAt, editedAt, deletedAt
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.id = try container.decode(ObjectID.self, forKey: .id)
        self.senderID = try container.decode(ObjectID.self, forKey: .senderID)
        self.receiverID = try container.decode(ObjectID.self, forKey: .receiverID)
        self.text = try container.decodeIfPresent(String.self, forKey: .text)
        self.image = try container.decodeIfPresent(String.self, forKey: .image)
        self.imageMediaID = nil
        self.createdAt = try container.decode(Timestamp.self, forKey: .createdAt)
        self.updatedAt = try container.decode(Timestamp.self, forKey: .updatedAt)
        self.readAt = try container.decodeIfPresent(Timestamp.self, forKey: .readAt)
        self.editedAt = try container.decodeIfPresent(Timestamp.self, forKey: .editedAt)
        self.deletedAt = try container.decodeIfPresent(Timestamp.self, forKey: .deletedAt)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(senderID, forKey: .senderID)
        try container.encode(receiverID, forKey: .receiverID)
        try container.encodeIfPresent(text, forKey: .text)
        try container.encodeIfPresent(image, forKey: .image)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encode(readAt, forKey: .readAt)
        try container.encodeIfPresent(editedAt, forKey: .editedAt)
        try container.encodeIfPresent(deletedAt, forKey: .deletedAt)
    }
}

extension Message: JSONWritable {
    /// Writes the JSON form: the members ``encode(to:)`` writes, in the same order. Every message
    /// is encoded for its event and for its answer, so this is written by hand.
    public func writeJSON(into json: inout JSONWriter) {
        json.beginObject()
        json.member("_id", id.hexString)
        json.member("senderId", senderID.hexString)
        json.member("receiverId", receiverID.hexString)
        json.member("text", ifPresent: text)
        json.member("image", ifPresent: image)
        json.member("createdAt", createdAt.iso8601)
        json.member("updatedAt", updatedAt.iso8601)
        json.member("readAt", orNull: readAt?.iso8601)
        json.member("editedAt", ifPresent: editedAt?.iso8601)
        json.member("deletedAt", ifPresent: deletedAt?.iso8601)
        json.endObject()
    }
}
