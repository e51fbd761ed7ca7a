/// Persistence of group messages and of each member's read position. One implementation per
/// database; all pass the same contract tests.
///
/// Every call is made for a user and checks, at that moment, that they are a member of an open
/// group; to anyone else the group does not exist (``GroupChangeError/groupNotFound``).
public protocol GroupMessageRepository: Sendable {
    /// Stores a message at the end of its group's history and announces it on the store's bus
    /// (``ClusterEvent/groupMessageCreated(_:)``): the order inserts into one group complete in
    /// is the order every member hears them in and pages return.
    /// - Throws: ``GroupChangeError/groupNotFound`` when the sender is not a member now.
    func insertGroupMessage(_ message: GroupMessage) async throws

    /// One page of a group's history, oldest first, with a conversation's rules
    /// (``ConversationQuery``: `before`, `after`, `limit`, `updatedAfter`).
    /// - Throws: ``GroupChangeError/groupNotFound``, ``StoreError/cursorNotFound``.
    func groupMessages(_ query: GroupMessageQuery) async throws -> [GroupMessage]

    /// The group message with this id, tombstones included.
    func groupMessage(id: ObjectID) async throws -> GroupMessage?

    /// Replaces the text of a message that is not deleted; sets `editedAt` and `updatedAt`.
    /// - Returns: the message as it is now; `nil` if there is none or it is deleted.
    func editGroupMessage(id: ObjectID, text: String, at time: Timestamp) async throws -> GroupMessage?

    /// Turns a message into a tombstone.
    /// - Returns: the message as it was before; `nil` if there is none or it was deleted already.
    func deleteGroupMessage(id: ObjectID, at time: Timestamp) async throws -> GroupMessage?

    /// Moves `reader`'s read position in the group forward to `upTo` (never back).
    /// - Returns: whether it moved.
    /// - Throws: ``GroupChangeError/groupNotFound``, ``StoreError/cursorNotFound`` when `upTo` is
    ///   not a message of the group.
    func markGroupRead(_ group: ObjectID, by reader: ObjectID, upTo: ObjectID, at time: Timestamp) async throws -> Bool

    /// Each member's read position in the group (members who read nothing yet are left out).
    func readPositions(in group: ObjectID) async throws -> [GroupReadReceipt]

    /// `user`'s role in the open group `group`; `nil` when they are not a member.
    func role(of user: ObjectID, in group: ObjectID) async throws -> GroupRole?

    /// Every open group of `user` with its newest message and how many messages of others they
    /// have not read, most recently active first.
    func groupSidebar(of user: ObjectID) async throws -> [GroupSidebarEntry]
}

/// A page of a group's history (see ``ConversationQuery`` for the meaning of each field).
public struct GroupMessageQuery: Sendable, Hashable {
    public var user: ObjectID
    public var group: ObjectID
    public var before: ObjectID?
    public var after: ObjectID?
    public var updatedAfter: Timestamp?
    public var limit: Int

    public init(
        user: ObjectID, group: ObjectID, before: ObjectID? = nil, after: ObjectID? = nil,
        updatedAfter: Timestamp? = nil, limit: Int = ConversationQuery.defaultLimit
    ) {
        self.user = user
        self.group = group
        self.before = before
        self.after = after
        self.updatedAfter = updatedAfter
        self.limit = limit
    }

    /// Newest first (no `after` cursor), then reversed.
    public var readsNewestFirst: Bool { after == nil }
}

/// One group in a user's sidebar.
public struct GroupSidebarEntry: Sendable, Hashable {
    public var group: Group
    public var lastMessage: LastMessage?
    public var unreadCount: Int
    /// When it was last active: its newest message, or its creation.
    public var activeAt: Timestamp

    public init(group: Group, lastMessage: LastMessage?, unreadCount: Int) {
        self.group = group
        self.lastMessage = lastMessage
        self.unreadCount = unreadCount
        self.activeAt = lastMessage?.createdAt ?? group.createdAt
    }
}
