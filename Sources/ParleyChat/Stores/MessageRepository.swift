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
}

/// A page of a conversation between two users.
///
/// Without cursors it is the newest `limit` messages; with `before`, the newest `limit` older than
/// that message; with `after`, the oldest `limit` newer than that message; with both, the oldest
/// `limit` strictly between them. Either way the page is returned oldest first.
public struct ConversationQuery: Sendable, Hashable {
    public static let defaultLimit = 50
    public static let maximumLimit = 200

    public var user: ObjectID
    public var peer: ObjectID
    public var before: ObjectID?
    public var after: ObjectID?
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
