import JSONText

/// One message to a group: text, an image, or both, from one of its members.
///
/// Its JSON form is a one-to-one ``Message``'s with `groupId` in place of `receiverId` and no
/// `readAt` (each member has their own read position, ``GroupReadReceipt``).
public struct GroupMessage: Sendable, Hashable {
    public var id: ObjectID
    public var groupID: ObjectID
    public var senderID: ObjectID
    public var text: String?
    /// Image URL.
    public var image: String?
    /// The media store's id of the image, used to delete it.
    public var imageMediaID: String?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    public var editedAt: Timestamp?
    /// When its sender deleted it; it keeps its place, without text or image.
    public var deletedAt: Timestamp?

    public init(
        id: ObjectID, groupID: ObjectID, senderID: ObjectID, text: String?, image: String?,
        imageMediaID: String? = nil, createdAt: Timestamp, updatedAt: Timestamp, editedAt: Timestamp? = nil,
        deletedAt: Timestamp? = nil
    ) {
        self.id = id
        self.groupID = groupID
        self.senderID = senderID
        self.text = text
        self.image = image
        self.imageMediaID = imageMediaID
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.editedAt = editedAt
        self.deletedAt = deletedAt
    }

    /// The message as the sidebar shows it.
    public var lastMessage: LastMessage {
        LastMessage(
            id: id, senderID: senderID, text: text, hasImage: image != nil, deleted: deletedAt != nil,
            createdAt: createdAt)
    }
}

extension GroupMessage: Encodable {
    enum CodingKeys: String, CodingKey {
        case id = "_id"
        case groupID = "groupId"
        case senderID = "senderId"
        case text, image, createdAt, updatedAt, editedAt, deletedAt
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(groupID, forKey: .groupID)
        try container.encode(senderID, forKey: .senderID)
        try container.encodeIfPresent(text, forKey: .text)
        try container.encodeIfPresent(image, forKey: .image)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encodeIfPresent(editedAt, forKey: .editedAt)
        try container.encodeIfPresent(deletedAt, forKey: .deletedAt)
    }
}

extension GroupMessage: JSONWritable {
    /// The JSON form, as ``encode(to:)`` writes it: written by hand, as every message is encoded
    /// for its event and its answer.
    public func writeJSON(into json: inout JSONWriter) {
        json.beginObject()
        json.member("_id", id.hexString)
        json.member("groupId", groupID.hexString)
        json.member("senderId", senderID.hexString)
        json.member("text", ifPresent: text)
        json.member("image", ifPresent: image)
        json.member("createdAt", createdAt.iso8601)
        json.member("updatedAt", updatedAt.iso8601)
        json.member("editedAt", ifPresent: editedAt?.iso8601)
        json.member("deletedAt", ifPresent: deletedAt?.iso8601)
        json.endObject()
    }

    /// Reads the JSON form (members in any order, unknown ones skipped).
    init(reading reader: inout JSONReader) throws(JSONReader.Malformed) {
        var id, group, sender: ObjectID?
        var text, image: String?
        var createdAt, updatedAt, editedAt, deletedAt: Timestamp?
        try reader.readObject { reader, key throws(JSONReader.Malformed) in
            switch key {
            case "_id": id = try reader.readObjectID()
            case "groupId": group = try reader.readObjectID()
            case "senderId": sender = try reader.readObjectID()
            case "text": text = try reader.readStringOrNull()
            case "image": image = try reader.readStringOrNull()
            case "createdAt": createdAt = try reader.readTimestampOrNull()
            case "updatedAt": updatedAt = try reader.readTimestampOrNull()
            case "editedAt": editedAt = try reader.readTimestampOrNull()
            case "deletedAt": deletedAt = try reader.readTimestampOrNull()
            default: try reader.skipValue()
            }
        }
        guard let id, let group, let sender, let createdAt, let updatedAt else {
            throw reader.malformed("a group message needs _id, groupId, senderId, createdAt and updatedAt")
        }
        self.init(
            id: id, groupID: group, senderID: sender, text: text, image: image, createdAt: createdAt,
            updatedAt: updatedAt, editedAt: editedAt, deletedAt: deletedAt)
    }
}

/// A member's read position moved: `by` read the group's messages up to and including `upTo`.
/// The body of `group-read`.
public struct GroupReadReceipt: Sendable, Hashable, Codable, JSONWritable {
    public var groupID: ObjectID
    public var by: ObjectID
    public var upTo: ObjectID
    public var readAt: Timestamp

    public init(groupID: ObjectID, by: ObjectID, upTo: ObjectID, readAt: Timestamp) {
        self.groupID = groupID
        self.by = by
        self.upTo = upTo
        self.readAt = readAt
    }

    enum CodingKeys: String, CodingKey {
        case groupID = "groupId"
        case by, upTo, readAt
    }

    /// `{groupId, by, upTo, readAt}`: the body of `group-read`.
    public func writeJSON(into json: inout JSONWriter) {
        json.beginObject()
        json.member("groupId", groupID.hexString)
        json.member("by", by.hexString)
        json.member("upTo", upTo.hexString)
        json.member("readAt", readAt.iso8601)
        json.endObject()
    }

    init(reading reader: inout JSONReader) throws(JSONReader.Malformed) {
        var group, by, upTo: ObjectID?
        var readAt: Timestamp?
        try reader.readObject { reader, key throws(JSONReader.Malformed) in
            switch key {
            case "groupId": group = try reader.readObjectID()
            case "by": by = try reader.readObjectID()
            case "upTo": upTo = try reader.readObjectID()
            case "readAt": readAt = try reader.readTimestampOrNull()
            default: try reader.skipValue()
            }
        }
        guard let group, let by, let upTo, let readAt else {
            throw reader.malformed("a group receipt needs groupId, by, upTo and readAt")
        }
        self.init(groupID: group, by: by, upTo: upTo, readAt: readAt)
    }
}
