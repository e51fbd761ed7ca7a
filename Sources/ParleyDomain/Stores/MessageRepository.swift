/// Persistence of messages. One implementation per database; all pass the same contract tests.
public protocol MessageRepository: Sendable {
    /// Stores a message at the end of its conversation.
    ///
    /// The order in which inserts into one conversation complete is the order every reader of
    /// that conversation sees, and what ``ConversationQuery`` cursors page through.
    ///
    /// - Throws: ``StoreError/unknownUser`` if the sender or the receiver does not exist, which
    ///   callers rely on instead of looking the receiver up first.
    func insertMessage(_ message: Message) async throws

    /// One page of the conversation between two users, oldest first.
    /// - Throws: ``StoreError/cursorNotFound`` when a cursor is not a message of that conversation.
    func conversation(_ query: ConversationQuery) async throws -> [Message]

    /// The message with this id, tombstones included.
    func message(id: ObjectID) async throws -> Message?

    /// Marks as read, at `time`, the unread messages from `sender` to `reader` stored up to and
    /// including `upTo`. Messages already read keep their time; the reader's own messages are
    /// never touched.
    /// - Returns: how many were marked.
    /// - Throws: ``StoreError/cursorNotFound`` when `upTo` is not a message between the two.
    func markRead(by reader: ObjectID, from sender: ObjectID, upTo: ObjectID, at time: Timestamp) async throws -> Int

    /// Replaces the text of a message that is not deleted; sets `editedAt` and `updatedAt`.
    /// - Returns: the message as it is now; `nil` if there is none or it is deleted.
    func editMessage(id: ObjectID, text: String, at time: Timestamp) async throws -> Message?

    /// Turns a message into a tombstone: text, image and media id removed, `deletedAt` and
    /// `updatedAt` set.
    /// - Returns: the message as it was before (with its media id, for deleting the image);
    ///   `nil` if there is none or it was deleted already.
    func deleteMessage(id: ObjectID, at time: Timestamp) async throws -> Message?

    /// `user`'s sidebar after `position` (from the start when `nil`): everyone they have a
    /// conversation with, most recent first, then everyone else by name; at most `limit`
    /// entries (all when `nil`).
    func sidebar(of user: ObjectID, after position: SidebarPosition?, limit: Int?) async throws -> [SidebarEntry]
}

/// A page of a conversation between two users.
///
/// Without cursors it is the newest `limit` messages; with `before`, the newest `limit` older than
/// that message; with `after`, the oldest `limit` newer than that message; with both, the oldest
/// `limit` strictly between them. Either way the page is returned oldest first. With
/// `updatedAfter`, the `limit` messages changed soonest after that time, in order of change
/// (with up to ``maximumSameTimeChanges`` more changed at the same millisecond as the last one,
/// so a client can continue from the last `updatedAt` without missing any).
public struct ConversationQuery: Sendable, Hashable {
    public static let defaultLimit = 50
    public static let maximumLimit = 200
    /// The most messages changed at the same millisecond as the last of a page of changes that
    /// are added to it. One read receipt changes every message it covers at once: unbounded,
    /// one request could load tens of thousands (a user's own two accounts make them; 9,000
    /// made a 47 MB answer). A client misses some only past this many changes in one
    /// millisecond, a receipt for more unread messages than that.
    public static let maximumSameTimeChanges = 1000

    public var user: ObjectID
    public var peer: ObjectID
    public var before: ObjectID?
    public var after: ObjectID?
    /// Instead of a page by position: the messages created, edited, read or deleted after this
    /// time, in the order they changed (a reconnecting client catching up).
    public var updatedAfter: Timestamp?
    public var limit: Int

    public init(
        user: ObjectID, peer: ObjectID, before: ObjectID? = nil, after: ObjectID? = nil, limit: Int = defaultLimit
    ) {
        self.user = user
        self.peer = peer
        self.before = before
        self.after = after
        self.limit = limit
    }

    /// The two participants in a fixed order, as stores key conversations.
    public var participants: (low: ObjectID, high: ObjectID) {
        user < peer ? (user, peer) : (peer, user)
    }
}

extension ConversationQuery {
    /// Whether the page is the newest messages before a point (no `after` cursor) rather than the
    /// oldest after one; stores read newest first in that case and reverse.
    public var readsNewestFirst: Bool { after == nil }
}
