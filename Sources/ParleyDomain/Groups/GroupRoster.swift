/// A group's members as a membership change sees them, and the rules that decide a change: pure,
/// so every store applies the same rules to the roster it read under the group's lock.
public struct GroupRoster: Sendable, Hashable {
    public private(set) var members: [ObjectID: GroupMember]

    public init(_ members: some Sequence<GroupMember>) {
        self.members = Dictionary(members.map { ($0.userID, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public var owner: ObjectID? { members.values.first { $0.role == .owner }?.userID }

    /// Decides `change` by `actor` at `time`.
    /// - Parameter groupCounts: how many groups each user to be added is in now (for
    ///   ``GroupLimits/maxGroupsPerUser``); users missing from it do not exist.
    /// - Throws: ``GroupChangeError``.
    public func apply(
        _ change: GroupChange, by actor: ObjectID, at time: Timestamp, limits: GroupLimits,
        groupCounts: [ObjectID: Int] = [:]
    ) throws(GroupChangeError) -> GroupChangeOutcome {
        guard let actorRole = members[actor]?.role else { throw .groupNotFound }
        var outcome = GroupChangeOutcome()
        switch change {
        case .add(let users):
            guard actorRole.manages else { throw .forbidden("Only owners and admins add members") }
            var seen = Set<ObjectID>()
            let new = users.filter { members[$0] == nil && seen.insert($0).inserted }
            let unknown = new.filter { groupCounts[$0] == nil }
            guard unknown.isEmpty else { throw .unknownUsers(unknown) }
            guard members.count + new.count <= limits.maxMembers else {
                throw .tooManyMembers(limit: limits.maxMembers)
            }
            let full = new.filter { (groupCounts[$0] ?? 0) >= limits.maxGroupsPerUser }
            guard full.isEmpty else { throw .tooManyGroups(full, limit: limits.maxGroupsPerUser) }
            outcome.added = new.map { GroupMember(userID: $0, role: .member, joinedAt: time) }
        case .remove(let user) where user == actor:
            return try apply(.leave, by: actor, at: time, limits: limits)
        case .remove(let user):
            guard actorRole.manages else { throw .forbidden("Only owners and admins remove members") }
            guard let target = members[user] else { throw .notAMember(user) }
            guard target.role != .owner else {
                throw .forbidden("The owner cannot be removed; ownership can be transferred")
            }
            outcome.removed = [user]
        case .leave:
            outcome.removed = [actor]
            if members.count == 1 {
                outcome.closed = true
            } else if actorRole == .owner, let heir = heir(excluding: actor) {
                outcome.roles[heir] = .owner
            }
        case .setRole(let user, let role):
            guard actorRole == .owner else { throw .forbidden("Only the owner changes roles") }
            guard role != .owner else { throw .forbidden("Ownership is transferred, not set") }
            guard let target = members[user] else { throw .notAMember(user) }
            guard target.role != .owner else {
                throw .forbidden("The owner's role is changed by transferring ownership")
            }
            if target.role != role { outcome.roles[user] = role }
        case .transferOwnership(let user):
            guard actorRole == .owner else { throw .forbidden("Only the owner transfers ownership") }
            guard members[user] != nil else { throw .notAMember(user) }
            if user != actor {
                outcome.roles[user] = .owner
                outcome.roles[actor] = .admin
            }
        }
        return outcome
    }

    /// Refuses a list of users to add longer than a group can hold, before a store looks any of
    /// them up.
    public static func checkSize(of users: [ObjectID], limits: GroupLimits) throws(GroupChangeError) {
        if users.count > limits.maxMembers, Set(users).count > limits.maxMembers {
            throw .tooManyMembers(limit: limits.maxMembers)
        }
    }

    /// Who becomes owner when `owner` leaves: the longest-standing admin, else member (by when
    /// they joined, then id).
    func heir(excluding owner: ObjectID) -> ObjectID? {
        members.values.filter { $0.userID != owner }
            .min { ($0.role, $0.joinedAt, $0.userID) < ($1.role, $1.joinedAt, $1.userID) }?.userID
    }

    /// The roster without `users` (members a copy leaves behind), as if they had left: an owner
    /// among them hands ownership on to the longest-standing admin, else member.
    public func without(_ users: Set<ObjectID>) -> GroupRoster {
        var next = self
        for user in users { next.members[user] = nil }
        if next.owner == nil,
            let heir = next.members.values.min(by: {
                ($0.role, $0.joinedAt, $0.userID) < ($1.role, $1.joinedAt, $1.userID)
            })
        {
            next.members[heir.userID]?.role = .owner
        }
        return next
    }

    /// The roster after `outcome`.
    public func applying(_ outcome: GroupChangeOutcome) -> GroupRoster {
        var next = self
        for member in outcome.added { next.members[member.userID] = member }
        for user in outcome.removed { next.members[user] = nil }
        for (user, role) in outcome.roles { next.members[user]?.role = role }
        return next
    }
}
