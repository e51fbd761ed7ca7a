/// Persistence of groups and their members. One implementation per database; all pass the same
/// contract tests.
///
/// Membership changes are decided by ``GroupRoster/apply(_:by:at:limits:groupCounts:)`` on the
/// roster as it is when the change commits (read under the group's lock, or an optimistic
/// version that is retried), so two changes that race are decided one after the other.
public protocol GroupRepository: Sendable {
    /// Stores a new group with `owner` as its owner and `members` (the owner and repeats left
    /// out) as members, all joined at the group's creation time.
    /// - Throws: ``GroupChangeError/unknownUsers(_:)``, ``GroupChangeError/tooManyMembers(limit:)``,
    ///   ``GroupChangeError/tooManyGroups(_:limit:)``.
    /// - Returns: the members, the owner first.
    func createGroup(_ group: Group, owner: ObjectID, members: [ObjectID], limits: GroupLimits) async throws
        -> [GroupMember]

    /// The open group `id` and its members, if `user` is one of them; `nil` otherwise (to anyone
    /// else a group does not exist).
    func group(id: ObjectID, visibleTo user: ObjectID) async throws -> (group: Group, members: [GroupMember])?

    /// The open groups `user` is a member of, most recently created first.
    func groups(of user: ObjectID) async throws -> [Group]

    /// Decides and applies a membership change by `actor` (see ``GroupRoster``), and announces
    /// it (``ClusterEvent/groupChanged(_:)`` with ``GroupNotice/init(_:of:group:by:at:)``) on the
    /// store's bus in the same step: in order with the group's messages, so a member it removes
    /// hears nothing of the group stored after it, and one it adds hears everything after it.
    /// (PostgreSQL and SQLite announce it in the change's transaction; MongoDB right after.)
    /// - Throws: ``GroupChangeError``.
    func changeMembership(
        of group: ObjectID, _ change: GroupChange, by actor: ObjectID, at time: Timestamp, limits: GroupLimits
    ) async throws -> GroupChangeOutcome

    /// Renames the group or changes its avatar, if `actor` is an owner or admin of it now.
    /// - Returns: the group before and after.
    /// - Throws: ``GroupChangeError/groupNotFound`` or ``GroupChangeError/forbidden(_:)``.
    func updateGroup(id: ObjectID, by actor: ObjectID, changes: GroupChanges, at time: Timestamp) async throws
        -> (previous: Group, updated: Group)
}

/// What an update changes; `nil` leaves a field as it is.
public struct GroupChanges: Sendable, Hashable {
    public var name: String?
    /// The new avatar's URL and media id (`("", nil)` removes it).
    public var avatar: (url: String, mediaID: String?)? {
        get { avatarURL.map { ($0, avatarMediaID) } }
        set {
            avatarURL = newValue?.url
            avatarMediaID = newValue?.mediaID
        }
    }
    private var avatarURL: String?
    private var avatarMediaID: String?

    public init(name: String? = nil, avatar: (url: String, mediaID: String?)? = nil) {
        self.name = name
        self.avatar = avatar
    }
}

extension Group {
    /// The group after `changes` at `time`.
    public func applying(_ changes: GroupChanges, at time: Timestamp) -> Group {
        var next = self
        if let name = changes.name { next.name = name }
        if let avatar = changes.avatar {
            next.avatar = avatar.url
            next.avatarMediaID = avatar.mediaID
        }
        next.updatedAt = time
        return next
    }
}
