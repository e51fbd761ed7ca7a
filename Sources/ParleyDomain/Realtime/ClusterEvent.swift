import JSONText

/// Something every instance must hear about: a stored message, a presence change, typing, a
/// session that ended.
///
/// Stores publish ``messageCreated(_:)`` themselves, once the message is committed, so every
/// instance hears messages of one conversation in the order they were stored.
public enum ClusterEvent: Sendable, Hashable {
    case messageCreated(Message)
    /// A sender changed a message's text.
    case messageUpdated(Message)
    /// A sender deleted a message: the tombstone.
    case messageDeleted(Message)
    /// `receipt.by` read the messages from `receipt.with` up to `receipt.upTo`.
    case messagesRead(ReadReceipt)
    case userOnline(ObjectID)
    case userOffline(ObjectID)
    case typing(from: ObjectID, to: ObjectID)
    case stopTyping(from: ObjectID, to: ObjectID)
    /// The session whose token has this fingerprint logged out: end its sockets.
    case sessionEnded(tokenFingerprint: String)
    /// Every token of a user issued at or before `upTo` was revoked ("log out everywhere", or the
    /// account deleted): end its sockets, refuse its tokens.
    case sessionsRevoked(user: ObjectID, upTo: Timestamp)
    /// Carries nothing: when an instance hears its own barrier back, it has heard every event
    /// committed before the barrier was sent (the bus delivers in commit order).
    case barrier(String)
    /// A new message to a group (published by the store that stored it, like ``messageCreated(_:)``).
    case groupMessageCreated(GroupMessage)
    case groupMessageUpdated(GroupMessage)
    case groupMessageDeleted(GroupMessage)
    /// A member's read position in a group moved.
    case groupRead(GroupReadReceipt)
    /// A group was created or changed, or its membership did.
    case groupChanged(GroupNotice)
    /// `from` is typing in `group` (or stopped).
    case groupTyping(from: ObjectID, group: ObjectID, stop: Bool)
}

extension ClusterEvent {
    /// The wire form: compact JSON, `{"type": …, …}`. The PostgreSQL trigger writes message events
    /// in the same form, so both sides must agree on it. Written by hand: every message is
    /// encoded once for its event.
    public func encoded() -> String {
        var json = JSONWriter()
        json.beginObject()
        json.member("type", wireType)
        switch self {
        case .messageCreated(let message), .messageUpdated(let message), .messageDeleted(let message):
            json.key("message")
            message.writeJSON(into: &json)
        case .messagesRead(let receipt):
            json.key("receipt")
            json.beginObject()
            json.member("by", receipt.by.hexString)
            json.member("with", receipt.with.hexString)
            json.member("upTo", receipt.upTo.hexString)
            json.member("readAt", receipt.readAt.iso8601)
            json.endObject()
        case .userOnline(let user), .userOffline(let user):
            json.member("user", user.hexString)
        case .typing(let from, let to), .stopTyping(let from, let to):
            json.member("from", from.hexString)
            json.member("to", to.hexString)
        case .sessionEnded(let fingerprint):
            json.member("token", fingerprint)
        case .sessionsRevoked(let user, let upTo):
            json.member("user", user.hexString)
            json.member("upTo", upTo.iso8601)
        case .barrier(let token):
            json.member("token", token)
        case .groupMessageCreated(let message), .groupMessageUpdated(let message), .groupMessageDeleted(let message):
            json.key("groupMessage")
            message.writeJSON(into: &json)
        case .groupRead(let receipt):
            json.key("groupReceipt")
            receipt.writeJSON(into: &json)
        case .groupChanged(let notice):
            json.key("notice")
            notice.writeJSON(into: &json)
        case .groupTyping(let from, let group, _):
            json.member("from", from.hexString)
            json.member("group", group.hexString)
        }
        json.endObject()
        return json.text
    }

    /// The `type` member of the wire form.
    private var wireType: String {
        switch self {
        case .messageCreated: "message"
        case .messageUpdated: "message-updated"
        case .messageDeleted: "message-deleted"
        case .messagesRead: "messages-read"
        case .userOnline: "online"
        case .userOffline: "offline"
        case .typing: "typing"
        case .stopTyping: "stop-typing"
        case .sessionEnded: "session-ended"
        case .sessionsRevoked: "sessions-revoked"
        case .barrier: "barrier"
        case .groupMessageCreated: "group-message"
        case .groupMessageUpdated: "group-message-updated"
        case .groupMessageDeleted: "group-message-deleted"
        case .groupRead: "group-read"
        case .groupChanged: "group-changed"
        case .groupTyping(_, _, let stop): stop ? "group-stop-typing" : "group-typing"
        }
    }

    /// Decodes the wire form; `nil` for anything unknown or malformed (ignored by listeners, so
    /// a newer instance's events do not break older ones during a rolling upgrade). Members may
    /// come in any order, and unknown ones are skipped.
    public init?(encoded text: String) {
        var position: Int64?
        self.init(encoded: text, position: &position)
    }

    /// Decodes the wire form and the `position` member a store puts first in the events it keeps
    /// (see ``StoredEvent``), `nil` when there is none.
    public init?(encoded text: String, position: inout Int64?) {
        var type: String?
        var message: Message?
        var receipt: ReadReceipt?
        var user, from, to: ObjectID?
        var token: String?
        var upTo: Timestamp?
        var groupMessage: GroupMessage?
        var groupReceipt: GroupReadReceipt?
        var notice: GroupNotice?
        var group: ObjectID?
        do {
            try JSONReader.read(text) { reader throws(JSONReader.Malformed) in
                try reader.readObject { reader, key throws(JSONReader.Malformed) in
                    switch key {
                    case "type": type = try reader.readString()
                    case "message": message = try Message(reading: &reader)
                    case "receipt": receipt = try ReadReceipt(reading: &reader)
                    case "user": user = try reader.readObjectID()
                    case "from": from = try reader.readObjectID()
                    case "to": to = try reader.readObjectID()
                    case "token": token = try reader.readString()
                    case "upTo": upTo = try reader.readTimestampOrNull()
                    case "groupMessage": groupMessage = try GroupMessage(reading: &reader)
                    case "groupReceipt": groupReceipt = try GroupReadReceipt(reading: &reader)
                    case "notice": notice = try GroupNotice(reading: &reader)
                    case "group": group = try reader.readObjectID()
                    case "position":
                        guard let value = try reader.readNumber().integerValue, value >= 0 else {
                            throw reader.malformed("a position is a whole number, 0 or more")
                        }
                        position = value
                    default: try reader.skipValue()
                    }
                }
                try reader.finish()
            }
        } catch {
            return nil
        }
        switch type {
        case "message":
            guard let message else { return nil }
            self = .messageCreated(message)
        case "message-updated":
            guard let message else { return nil }
            self = .messageUpdated(message)
        case "message-deleted":
            guard let message else { return nil }
            self = .messageDeleted(message)
        case "messages-read":
            guard let receipt else { return nil }
            self = .messagesRead(receipt)
        case "online":
            guard let user else { return nil }
            self = .userOnline(user)
        case "offline":
            guard let user else { return nil }
            self = .userOffline(user)
        case "typing":
            guard let from, let to else { return nil }
            self = .typing(from: from, to: to)
        case "stop-typing":
            guard let from, let to else { return nil }
            self = .stopTyping(from: from, to: to)
        case "session-ended":
            guard let token else { return nil }
            self = .sessionEnded(tokenFingerprint: token)
        case "sessions-revoked":
            guard let user, let upTo else { return nil }
            self = .sessionsRevoked(user: user, upTo: upTo)
        case "barrier":
            guard let token else { return nil }
            self = .barrier(token)
        case "group-message", "group-message-updated", "group-message-deleted":
            guard let groupMessage else { return nil }
            self =
                type == "group-message"
                ? .groupMessageCreated(groupMessage)
                : type == "group-message-updated"
                    ? .groupMessageUpdated(groupMessage) : .groupMessageDeleted(groupMessage)
        case "group-read":
            guard let groupReceipt else { return nil }
            self = .groupRead(groupReceipt)
        case "group-changed":
            guard let notice else { return nil }
            self = .groupChanged(notice)
        case "group-typing", "group-stop-typing":
            guard let from, let group else { return nil }
            self = .groupTyping(from: from, group: group, stop: type == "group-stop-typing")
        default:
            return nil
        }
    }
}

extension Message {
    /// Reads the JSON form (members in any order, unknown ones skipped).
    init(reading reader: inout JSONReader) throws(JSONReader.Malformed) {
        var id, sender, receiver: ObjectID?
        var text, image: String?
        var createdAt, updatedAt, readAt, editedAt, deletedAt: Timestamp?
        try reader.readObject { reader, key throws(JSONReader.Malformed) in
            switch key {
            case "_id": id = try reader.readObjectID()
            case "senderId": sender = try reader.readObjectID()
            case "receiverId": receiver = try reader.readObjectID()
            case "text": text = try reader.readStringOrNull()
            case "image": image = try reader.readStringOrNull()
            case "createdAt": createdAt = try reader.readTimestampOrNull()
            case "updatedAt": updatedAt = try reader.readTimestampOrNull()
            case "readAt": readAt = try reader.readTimestampOrNull()
            case "editedAt": editedAt = try reader.readTimestampOrNull()
            case "deletedAt": deletedAt = try reader.readTimestampOrNull()
            default: try reader.skipValue()
            }
        }
        guard let id, let sender, let receiver, let createdAt, let updatedAt else {
            throw reader.malformed("a message needs _id, senderId, receiverId, createdAt and updatedAt")
        }
        self.init(
            id: id, senderID: sender, receiverID: receiver, text: text, image: image, createdAt: createdAt,
            updatedAt: updatedAt, readAt: readAt, editedAt: editedAt, deletedAt: deletedAt)
    }
}

extension ReadReceipt {
    init(reading reader: inout JSONReader) throws(JSONReader.Malformed) {
        var by, with, upTo: ObjectID?
        var readAt: Timestamp?
        try reader.readObject { reader, key throws(JSONReader.Malformed) in
            switch key {
            case "by": by = try reader.readObjectID()
            case "with": with = try reader.readObjectID()
            case "upTo": upTo = try reader.readObjectID()
            case "readAt": readAt = try reader.readTimestampOrNull()
            default: try reader.skipValue()
            }
        }
        guard let by, let with, let upTo, let readAt else {
            throw reader.malformed("a receipt needs by, with, upTo and readAt")
        }
        self.init(by: by, with: with, upTo: upTo, readAt: readAt)
    }
}

extension JSONReader {
    mutating func readObjectID() throws(Malformed) -> ObjectID {
        guard let id = ObjectID(try readString()) else { throw malformed("expected a 24-hex-digit id") }
        return id
    }

    mutating func readTimestampOrNull() throws(Malformed) -> Timestamp? {
        guard let text = try readStringOrNull() else { return nil }
        guard let time = Timestamp(iso8601: text) else { throw malformed("expected an ISO-8601 date") }
        return time
    }
}
