/// One line of a user's sidebar: someone they can talk to, the newest message between them and
/// how many of the other's messages they have not read.
public struct SidebarEntry: Sendable, Hashable {
    public var user: User
    public var lastMessage: LastMessage?
    public var unreadCount: Int
    /// Where this entry is in the sidebar's order, for the next page's cursor.
    public var position: SidebarPosition
    /// The other user deleted their account: the conversation stays, from a user with no name.
    public var userDeleted: Bool

    public init(
        user: User,
        lastMessage: LastMessage?,
        unreadCount: Int,
        position: SidebarPosition,
        userDeleted: Bool = false
    ) {
        self.user = user
        self.lastMessage = lastMessage
        self.unreadCount = unreadCount
        self.position = position
        self.userDeleted = userDeleted
    }
}

/// The newest message of a conversation, as the sidebar shows it: its text, or that it has an
/// image, or that it was deleted.
public struct LastMessage: Sendable, Hashable, Codable {
    public var id: ObjectID
    public var senderID: ObjectID
    public var text: String?
    public var hasImage: Bool
    public var deleted: Bool
    public var createdAt: Timestamp

    public init(id: ObjectID, senderID: ObjectID, text: String?, hasImage: Bool, deleted: Bool, createdAt: Timestamp) {
        self.id = id
        self.senderID = senderID
        self.text = text
        self.hasImage = hasImage
        self.deleted = deleted
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case id = "_id"
        case senderID = "senderId"
        case text, hasImage, deleted, createdAt
    }
}

/// A place in the sidebar's order: conversations newest first (by the order their newest
/// messages were stored), then everyone else by name.
public enum SidebarPosition: Sendable, Hashable {
    case conversation(lastSequence: Int64)
    /// The same, for stores that order conversations by the id of their newest message (MongoDB,
    /// where a conversation has no sequence number).
    case conversationByMessage(lastMessageID: ObjectID)
    case user(name: String, id: ObjectID)
}

extension Optional where Wrapped == SidebarPosition {
    /// Whether a page after this position starts among the users without a conversation.
    public var isPastConversations: Bool {
        if case .user = self { return true }
        return false
    }
}
