import Logging
import ParleyDomain

/// Groups and their members: creating, reading, renaming, membership and roles.
///
/// Every change is decided by the store against the group as it is when the change commits
/// (``GroupRoster``), then told to every member's devices and to the users it removed, on every
/// instance (``ClusterEvent/groupChanged(_:)``), before the caller is answered: a request made
/// after the answer is ordered after the change everywhere. To anyone who is not a member a
/// group does not exist (404 `group_not_found`).
public struct GroupService: Sendable {
    let users: any UserRepository
    let groups: any GroupRepository
    let messages: any GroupMessageRepository
    let media: any MediaStore
    let images: ImageValidator
    let presence: any PresenceReader
    let bus: any ClusterBus
    public let limits: GroupLimits
    /// How long after sending a sender may still edit a message.
    let editWindow: Duration
    let logger: Logger

    public init(
        users: any UserRepository, groups: any GroupRepository, messages: any GroupMessageRepository,
        media: any MediaStore, images: ImageValidator, presence: any PresenceReader, bus: any ClusterBus,
        limits: GroupLimits = GroupLimits(), editWindow: Duration = .seconds(15 * 60), logger: Logger
    ) {
        self.users = users
        self.groups = groups
        self.messages = messages
        self.media = media
        self.images = images
        self.presence = presence
        self.bus = bus
        self.limits = limits
        self.editWindow = editWindow
        self.logger = logger
    }

    /// Creates a group (raw client input) with `owner` as its owner and `members` (ids, as a
    /// list) as its members.
    public func create(by owner: ObjectID, name: String?, members: String?, avatar: ImageInput?) async throws
        -> GroupDetails
    {
        let name = try Self.groupName(name)
        let memberIDs = try Self.ids(members, field: "members")
        let upload = try avatar.flatMap { input -> ImageUpload? in
            if case .dataURI(let uri) = input, uri.isEmpty { return nil }
            return try images.validate(input, field: "avatar")
        }
        var stored: MediaReference?
        if let upload { stored = try await media.store(upload, purpose: .avatar) }
        let now = Timestamp.now()
        let group = Group(
            id: ObjectID(), name: name, avatar: stored?.url ?? "", avatarMediaID: stored?.mediaID, createdAt: now,
            updatedAt: now)
        let created: [GroupMember]
        do {
            created = try await Self.call {
                try await groups.createGroup(group, owner: owner, members: memberIDs, limits: limits)
            }
        } catch {
            if let mediaID = stored?.mediaID {
                await media.discard(mediaID, ofWriteThatFailedWith: error, logger: logger)
            }
            throw error
        }
        await publish(.groupChanged(GroupNotice(kind: .created, group: group, by: owner, added: created, at: now)))
        return try await details(group, members: created, for: owner)
    }

    /// The groups `user` is a member of, most recently created first.
    public func list(of user: ObjectID) async throws -> [Group] {
        try await Self.call { try await groups.groups(of: user) }
    }

    /// One group with its members (raw id), if `user` is one of them.
    public func group(_ id: String?, for user: ObjectID) async throws -> GroupDetails {
        let groupID = try Validation.id(id, field: "groupId")
        guard let found = try await Self.call({ try await groups.group(id: groupID, visibleTo: user) }) else {
            throw Self.notFound
        }
        return try await details(found.group, members: found.members, for: user)
    }

    /// Renames the group or changes its avatar (owners and admins); `avatar` empty removes it.
    public func update(_ id: String?, by user: ObjectID, name: String?, avatar: ImageInput?) async throws
        -> GroupDetails
    {
        let groupID = try Validation.id(id, field: "groupId")
        guard name != nil || avatar != nil else {
            throw ParleyError(.badRequest, code: "nothing_to_update", message: "Provide name or avatar to update")
        }
        var changes = GroupChanges(name: try name.map { try Self.groupName($0) })
        var stored: MediaReference?
        switch avatar {
        case .dataURI(let uri) where uri.isEmpty:
            changes.avatar = ("", nil)
        case let input?:
            // The actor's right to change the group is checked before the image is stored.
            guard let role = try await Self.call({ try await messages.role(of: user, in: groupID) }) else {
                throw Self.notFound
            }
            guard role.manages else { throw Self.forbidden("Only owners and admins change the group") }
            let reference = try await media.store(try images.validate(input, field: "avatar"), purpose: .avatar)
            stored = reference
            changes.avatar = (reference.url, reference.mediaID)
        case nil:
            break
        }
        let result: (previous: Group, updated: Group)
        do {
            result = try await Self.call {
                try await groups.updateGroup(id: groupID, by: user, changes: changes, at: .now())
            }
        } catch {
            if let mediaID = stored?.mediaID {
                await media.discard(mediaID, ofWriteThatFailedWith: error, logger: logger)
            }
            throw error
        }
        if changes.avatar != nil, let old = result.previous.avatarMediaID, old != result.updated.avatarMediaID {
            try? await media.delete(old)
        }
        await publish(
            .groupChanged(GroupNotice(kind: .updated, group: result.updated, by: user, at: result.updated.updatedAt)))
        return try await group(groupID.hexString, for: user)
    }

    /// Adds members (raw ids, as a list): owners and admins. Users already in are skipped.
    public func addMembers(to id: String?, by user: ObjectID, members: String?) async throws -> GroupDetails {
        let users = try Self.ids(members, field: "members")
        guard !users.isEmpty else { throw ParleyError.missingField("members") }
        try await change(id, .add(users), by: user)
        return try await group(id, for: user)
    }

    /// Removes a member (owners and admins), or leaves when `member` is the actor.
    public func removeMember(from id: String?, by user: ObjectID, member: String?) async throws -> GroupDetails? {
        let member = try Validation.id(member, field: "userId")
        try await change(id, member == user ? .leave : .remove(member), by: user)
        return member == user ? nil : try await group(id, for: user)
    }

    /// `user` leaves; an owner hands ownership on, the last member closes the group.
    public func leave(_ id: String?, by user: ObjectID) async throws {
        try await change(id, .leave, by: user)
    }

    /// A deleted account leaves every group it was in (an owner hands ownership on, as when
    /// leaving). Failures are logged: the account is gone already.
    public func leaveAll(of user: ObjectID) async {
        do {
            for group in try await groups.groups(of: user) {
                do {
                    try await change(group.id.hexString, .leave, by: user)
                } catch let error as ParleyError where error.code == GroupService.notFound.code {
                    continue
                }
            }
        } catch {
            logger.warning(
                "A deleted account could not leave its groups", metadata: ["user": "\(user)", "error": "\(error)"])
        }
    }

    /// Makes a member an admin or a member again (the owner only).
    public func setRole(in id: String?, by user: ObjectID, member: String?, role: String?) async throws -> GroupDetails
    {
        let member = try Validation.id(member, field: "userId")
        guard let raw = role else { throw ParleyError.missingField("role") }
        guard let role = GroupRole(rawValue: raw), role != .owner else {
            throw ParleyError.invalidField(
                "role", "role must be admin or member (transfer ownership with POST /api/groups/:id/owner)")
        }
        try await change(id, .setRole(member, role), by: user)
        return try await group(id, for: user)
    }

    /// Hands ownership to another member (the owner only); the owner becomes an admin.
    public func transferOwnership(of id: String?, by user: ObjectID, to member: String?) async throws -> GroupDetails {
        let member = try Validation.id(member, field: "userId")
        try await change(id, .transferOwnership(to: member), by: user)
        return try await group(id, for: user)
    }

    /// The store decides the change and announces it (in order with the group's messages).
    ///
    /// The last member out closes the group, and nobody sees it again: its avatar is deleted then.
    private func change(_ id: String?, _ change: GroupChange, by user: ObjectID) async throws {
        let groupID = try Validation.id(id, field: "groupId")
        var avatar: String?
        if case .leave = change {
            avatar = try? await groups.group(id: groupID, visibleTo: user)?.group.avatarMediaID
        }
        let outcome = try await Self.call {
            try await groups.changeMembership(of: groupID, change, by: user, at: .now(), limits: limits)
        }
        if outcome.closed, let avatar {
            do {
                try await media.delete(avatar)
            } catch {
                logger.warning(
                    "Could not delete a closed group's avatar", metadata: ["group": "\(groupID)", "error": "\(error)"])
            }
        }
    }

    /// A group, its members by name with their role, presence and read position.
    private func details(_ group: Group, members: [GroupMember], for user: ObjectID) async throws -> GroupDetails {
        let records = try await Self.call { try await users.users(ids: members.map(\.userID)) }
        let byID = Dictionary(records.map { ($0.user.id, $0) }, uniquingKeysWith: { first, _ in first })
        let reads = try await Self.call { try await messages.readPositions(in: group.id) }
        let readByUser = Dictionary(reads.map { ($0.by, $0) }, uniquingKeysWith: { first, _ in first })
        let online = await presence.onlineUsers()
        let views = members.map { member in
            let record = byID[member.userID]
            let deleted = record?.deletedAt != nil
            return GroupMemberView(
                id: member.userID, name: deleted ? "" : record?.user.name ?? "",
                avatar: deleted ? "" : record?.user.avatar ?? "", role: member.role, joinedAt: member.joinedAt,
                online: online.contains(member.userID), lastReadID: readByUser[member.userID]?.upTo,
                lastReadAt: readByUser[member.userID]?.readAt)
        }
        let role = members.first { $0.userID == user }?.role ?? .member
        return GroupDetails(group: group, members: views, role: role)
    }

    /// Events about changes are told after the change is stored; a bus outage loses the event,
    /// not the change (clients catch up with `GET /api/groups/:id`).
    func publish(_ event: ClusterEvent) async {
        do {
            try await bus.publish(event)
        } catch {
            logger.warning("Could not publish an event", metadata: ["error": "\(error)"])
        }
    }

    static let notFound = ParleyError(.notFound, code: "group_not_found", message: "Group not found")

    static func forbidden(_ message: String) -> ParleyError {
        ParleyError(.forbidden, code: "forbidden", message: message)
    }

    /// A group's name: a display name's rules (``Validation/name(_:)``).
    static func groupName(_ raw: String?) throws -> String {
        try Validation.name(raw)
    }

    /// Longest list of ids a request may name: no group holds more (`GROUP_MAX_MEMBERS` is at
    /// most 100,000), and parsing stays bounded.
    static let maximumListedIDs = 100_000

    /// A list of ids: a JSON array of strings, or in a form, ids separated by commas; repeats
    /// are dropped, the order kept.
    static func ids(_ raw: String?, field: String) throws -> [ObjectID] {
        guard let raw, !raw.isEmpty else { return [] }
        var ids: [ObjectID] = []
        var seen: Set<ObjectID> = []
        for part in raw.split(separator: ",", omittingEmptySubsequences: false) {
            guard ids.count < maximumListedIDs else {
                throw ParleyError.invalidField(field, "\(field) can name at most \(maximumListedIDs) users")
            }
            guard let id = ObjectID(String(part.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())) else {
                throw ParleyError.invalidField(field, "\(field) must be a list of user ids (24 hex digits each)")
            }
            if seen.insert(id).inserted { ids.append(id) }
        }
        return ids
    }

    /// Runs a store call, with a group's refusals as the client errors they are.
    static func call<Result: Sendable>(_ operation: () async throws -> Result) async throws -> Result {
        do {
            return try await StoreCall.run(operation)
        } catch let error as GroupChangeError {
            throw ParleyError(error)
        }
    }
}

extension ParleyError {
    /// A refused group change as the client sees it.
    init(_ error: GroupChangeError) {
        switch error {
        case .groupNotFound:
            self = GroupService.notFound
        case .notAMember(let user):
            self.init(.notFound, code: "member_not_found", message: "\(user.hexString) is not a member of the group")
        case .forbidden(let message):
            self = GroupService.forbidden(message)
        case .tooManyMembers(let limit):
            self.init(.conflict, code: "too_many_members", message: "A group has at most \(limit) members")
        case .tooManyGroups(let users, let limit):
            self.init(
                .conflict, code: "too_many_groups",
                message: "A user is in at most \(limit) groups: \(users.map(\.hexString).joined(separator: ", "))")
        case .unknownUsers(let users):
            self.init(
                .badRequest, code: "unknown_users",
                message: "No such users: \(users.map(\.hexString).joined(separator: ", "))")
        }
    }
}

/// A group as its members see it: the group, every member, and the reader's own role.
public struct GroupDetails: Sendable, Hashable, Encodable {
    public var group: Group
    public var members: [GroupMemberView]
    public var role: GroupRole

    enum CodingKeys: String, CodingKey {
        case id = "_id"
        case name, avatar, createdAt, updatedAt, members, role
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(group.id, forKey: .id)
        try container.encode(group.name, forKey: .name)
        try container.encode(group.avatar, forKey: .avatar)
        try container.encode(group.createdAt, forKey: .createdAt)
        try container.encode(group.updatedAt, forKey: .updatedAt)
        try container.encode(role.rawValue, forKey: .role)
        try container.encode(members, forKey: .members)
    }
}

/// A member as other members see them: no email.
public struct GroupMemberView: Sendable, Hashable, Encodable {
    public var id: ObjectID
    public var name: String
    public var avatar: String
    public var role: GroupRole
    public var joinedAt: Timestamp
    public var online: Bool
    /// The newest message they have read; `null` when none.
    public var lastReadID: ObjectID?
    public var lastReadAt: Timestamp?

    enum CodingKeys: String, CodingKey {
        case id = "_id"
        case name, avatar, role, joinedAt, online
        case lastReadID = "lastReadId"
        case lastReadAt
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(name, forKey: .name)
        try container.encode(avatar, forKey: .avatar)
        try container.encode(role.rawValue, forKey: .role)
        try container.encode(joinedAt, forKey: .joinedAt)
        try container.encode(online, forKey: .online)
        try container.encode(lastReadID, forKey: .lastReadID)
        try container.encode(lastReadAt, forKey: .lastReadAt)
    }
}
