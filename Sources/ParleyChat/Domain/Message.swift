/// One message from one user to another: text, an image, or both.
///
/// The JSON form follows the Node app's model (`_id`, `senderId`, `receiverId`, `text`, `image`,
/// `createdAt`, `updatedAt`); `text` and `image` are left out when absent, as Mongoose does.
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

    public init(
        id: ObjectID,
        senderID: ObjectID,
        receiverID: ObjectID,
        text: String?,
        image: String?,
        imageMediaID: String? = nil,
        createdAt: Timestamp,
        updatedAt: Timestamp
    ) {
        self.id = id
        self.senderID = senderID
        self.receiverID = receiverID
        self.text = text
        self.image = image
        self.imageMediaID = imageMediaID
        self.createdAt = createdAt
        self.updatedAt = updatedAt
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
        case text, image, createdAt, updatedAt
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
    }
}
