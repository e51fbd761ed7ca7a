/// A change to a group's membership, asked for by one of its members (the actor).
///
/// ``GroupRoster/apply(_:by:at:limits:)`` decides it against the roster as it is when the change
/// commits: every store reads the roster under the group's lock (or an optimistic version) and
/// applies the outcome, so a change is always checked against the actor's role at that moment.
public enum GroupChange: Sendable, Hashable {
    /// Owners and admins add users; users already in are skipped (adding twice is harmless).
    case add([ObjectID])
    /// Owners and admins remove a member who is not the owner; removing oneself is leaving.
    case remove(ObjectID)
    /// Any member leaves. An owner who leaves hands ownership to the longest-standing admin, else
    /// member; the last member leaving closes the group.
    case leave
    /// The owner makes a member an admin or takes it back.
    case setRole(ObjectID, GroupRole)
    /// The owner hands ownership to another member and becomes an admin.
    case transferOwnership(to: ObjectID)
}

/// Bounds a group's membership.
public struct GroupLimits: Sendable, Hashable {
    /// Most members of one group (`GROUP_MAX_MEMBERS`).
    public var maxMembers: Int
    /// Most groups one user is a member of (`GROUP_MAX_PER_USER`).
    public var maxGroupsPerUser: Int

    public init(maxMembers: Int = 1000, maxGroupsPerUser: Int = 500) {
        self.maxMembers = maxMembers
        self.maxGroupsPerUser = maxGroupsPerUser
    }
}

/// Why a membership change was refused.
public enum GroupChangeError: Error, Sendable, Hashable {
    /// The actor is not a member (any more), or there is no such open group: to them it does
    /// not exist.
    case groupNotFound
    /// The user the change is about is not a member.
    case notAMember(ObjectID)
    /// The actor's role does not allow it.
    case forbidden(String)
    /// The group would have more than ``GroupLimits/maxMembers``.
    case tooManyMembers(limit: Int)
    /// These users would be in more than ``GroupLimits/maxGroupsPerUser`` groups.
    case tooManyGroups([ObjectID], limit: Int)
    /// These users do not exist (or deleted their account).
    case unknownUsers([ObjectID])
}

/// What a change did, for the store to write and the service to announce.
public struct GroupChangeOutcome: Sendable, Hashable {
    /// Members who joined, in the order asked.
    public var added: [GroupMember] = []
    /// Users no longer members.
    public var removed: [ObjectID] = []
    /// Members whose role changed, with their new role (a new owner included).
    public var roles: [ObjectID: GroupRole] = [:]
    /// The last member left.
    public var closed = false

    public init() {}

    /// Whether it changed anything.
    public var isEmpty: Bool { added.isEmpty && removed.isEmpty && roles.isEmpty && !closed }
}
