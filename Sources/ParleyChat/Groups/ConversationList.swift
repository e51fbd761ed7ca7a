import ParleyDomain

/// `GET /api/conversations`: one sidebar with a user's direct conversations and groups together,
/// each with its newest message and unread count, most recently active first, cursor-paged.
///
/// Direct conversations come from the one-to-one sidebar (``MessageRepository/sidebar(of:after:limit:)``,
/// only those with a message), groups from ``GroupMessageRepository/groupSidebar(of:)`` (a user
/// is in at most ``GroupLimits/maxGroupsPerUser``); they are merged by activity. The cursor is
/// the last entry's activity time and id: a page starts strictly after it.
public struct ConversationList: Sendable {
    let messages: any MessageRepository
    let groups: any GroupMessageRepository
    let presence: any PresenceReader

    public init(messages: any MessageRepository, groups: any GroupMessageRepository, presence: any PresenceReader) {
        self.messages = messages
        self.groups = groups
        self.presence = presence
    }

    public static let defaultPage = 50
    public static let maximumPage = 1000

    /// A page (raw client input), and the cursor of the next one when there may be more.
    public func page(of user: ObjectID, limit: String?, cursor: String?) async throws
        -> (entries: [ConversationEntry], next: String?)
    {
        var size = Self.defaultPage
        if let limit {
            guard let value = Int(limit), (1...Self.maximumPage).contains(value) else {
                throw ParleyError.invalidField("limit", "limit must be an integer from 1 to \(Self.maximumPage)")
            }
            size = value
        }
        let start = try cursor.map(Self.decode)
        async let direct = directConversations(of: user)
        async let grouped = GroupService.call { try await groups.groupSidebar(of: user) }
        let online = await presence.onlineUsers()
        var entries = try await direct.map { entry in
            ConversationEntry(
                kind: .direct, id: entry.user.id, name: entry.user.name, avatar: entry.user.avatar,
                online: online.contains(entry.user.id), lastMessage: entry.lastMessage, unreadCount: entry.unreadCount,
                activeAt: entry.lastMessage?.createdAt ?? entry.user.createdAt, deleted: entry.userDeleted)
        }
        entries += try await grouped.map { entry in
            ConversationEntry(
                kind: .group, id: entry.group.id, name: entry.group.name, avatar: entry.group.avatar, online: nil,
                lastMessage: entry.lastMessage, unreadCount: entry.unreadCount, activeAt: entry.activeAt, deleted: false
            )
        }
        entries.sort { ($0.activeAt, $0.id) > ($1.activeAt, $1.id) }
        if let start {
            entries = Array(entries.drop { ($0.activeAt, $0.id) >= (start.time, start.id) })
        }
        let page = Array(entries.prefix(size))
        let next = entries.count > size ? page.last.map(Self.encode) : nil
        return (page, next)
    }

    /// Every direct conversation with a message, a sidebar page at a time.
    private func directConversations(of user: ObjectID) async throws -> [SidebarEntry] {
        var all: [SidebarEntry] = []
        var position: SidebarPosition?
        while true {
            let page = try await StoreCall.run { try await messages.sidebar(of: user, after: position, limit: 500) }
            let conversations = page.prefix { $0.lastMessage != nil }
            all += conversations
            guard conversations.count == 500, let last = page.last else { return all }
            position = last.position
        }
    }

    static func encode(_ entry: ConversationEntry) -> String {
        "\(entry.activeAt.millisecondsSince1970)_\(entry.id.hexString)"
    }

    static func decode(_ cursor: String) throws -> (time: Timestamp, id: ObjectID) {
        let parts = cursor.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count == 2, let ms = Int64(parts[0]), ms >= 0, ms < 253_402_300_800_000,
            let id = ObjectID(String(parts[1]))
        else { throw ParleyError.invalidField("cursor", "cursor must be a value from X-Next-Cursor") }
        return (Timestamp(millisecondsSince1970: ms), id)
    }
}

/// One line of ``ConversationList``: a direct conversation (with another user) or a group.
public struct ConversationEntry: Sendable, Hashable, Encodable {
    public enum Kind: String, Sendable, Hashable, Encodable {
        case direct, group
    }

    public var kind: Kind
    /// The other user's id, or the group's.
    public var id: ObjectID
    public var name: String
    public var avatar: String
    /// The other user's presence; absent for groups.
    public var online: Bool?
    public var lastMessage: LastMessage?
    public var unreadCount: Int
    /// Its newest message's time (a group without messages: its creation).
    public var activeAt: Timestamp
    /// The other user deleted their account.
    public var deleted: Bool

    enum CodingKeys: String, CodingKey {
        case kind = "type"
        case id = "_id"
        case name, avatar, online, lastMessage, unreadCount, activeAt, deleted
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(kind, forKey: .kind)
        try container.encode(id, forKey: .id)
        try container.encode(name, forKey: .name)
        try container.encode(avatar, forKey: .avatar)
        try container.encodeIfPresent(online, forKey: .online)
        try container.encode(lastMessage, forKey: .lastMessage)
        try container.encode(unreadCount, forKey: .unreadCount)
        try container.encode(activeAt, forKey: .activeAt)
        if deleted { try container.encode(true, forKey: .deleted) }
    }
}
