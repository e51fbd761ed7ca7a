/// A group conversation: a name, an optional avatar, and its members (``GroupMember``), one of
/// them its owner.
public struct Group: Sendable, Hashable {
    public var id: ObjectID
    public var name: String
    /// Image URL, or the empty string when the group has none.
    public var avatar: String
    /// The media store's id of the avatar image, to delete it when it is replaced.
    public var avatarMediaID: String?
    public var createdAt: Timestamp
    public var updatedAt: Timestamp
    /// When its last member left: a closed group has no members and takes no messages.
    public var closedAt: Timestamp?

    public init(
        id: ObjectID, name: String, avatar: String = "", avatarMediaID: String? = nil, createdAt: Timestamp,
        updatedAt: Timestamp, closedAt: Timestamp? = nil
    ) {
        self.id = id
        self.name = name
        self.avatar = avatar
        self.avatarMediaID = avatarMediaID
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.closedAt = closedAt
    }
}

/// What a member may do in a group.
public enum GroupRole: String, Sendable, Hashable, CaseIterable, Comparable {
    /// Exactly one per open group: everything an admin may, and roles and ownership.
    case owner
    /// Renames the group, changes its avatar, adds and removes members and admins.
    case admin
    case member

    /// Owners first.
    public static func < (lhs: GroupRole, rhs: GroupRole) -> Bool {
        lhs.rank < rhs.rank
    }

    private var rank: Int {
        switch self {
        case .owner: 0
        case .admin: 1
        case .member: 2
        }
    }

    /// Whether this role manages members and the group's name and avatar.
    public var manages: Bool { self != .member }
}

/// A user's place in a group.
public struct GroupMember: Sendable, Hashable {
    public var userID: ObjectID
    public var role: GroupRole
    /// When they joined; the longest-standing admin (then member) becomes owner when the owner
    /// leaves.
    public var joinedAt: Timestamp

    public init(userID: ObjectID, role: GroupRole, joinedAt: Timestamp) {
        self.userID = userID
        self.role = role
        self.joinedAt = joinedAt
    }
}

extension Group: Encodable {
    enum CodingKeys: String, CodingKey {
        case id = "_id"
        case name, avatar, createdAt, updatedAt
    }

    /// `{_id, name, avatar, createdAt, updatedAt}`, as ``writeJSON(into:)`` writes it.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(name, forKey: .name)
        try container.encode(avatar, forKey: .avatar)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
    }
}
