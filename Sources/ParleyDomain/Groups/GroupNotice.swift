import JSONText

/// A change to a group every member's devices (and those of members it removed) hear about:
/// it was created, renamed or given another avatar, members joined, left or were removed,
/// roles changed, or it closed. The body of `group-changed`.
///
/// Every instance also uses it to keep its sockets' group rooms: sockets of users it adds join
/// the group's room, sockets of users it removes leave it, at once.
public struct GroupNotice: Sendable, Hashable {
    /// What happened, as clients see it in `change`.
    public enum Kind: String, Sendable, Hashable {
        case created, updated, membersAdded = "members-added", memberRemoved = "member-removed"
        case memberLeft = "member-left", rolesChanged = "roles-changed", closed
    }

    public var kind: Kind
    /// The group as it is after the change (name, avatar, times).
    public var group: Group
    /// Who made the change.
    public var by: ObjectID
    /// Members who joined.
    public var added: [GroupMember]
    /// Users no longer members.
    public var removed: [ObjectID]
    /// Members whose role changed, with their new role.
    public var roles: [GroupMember]
    /// When it happened.
    public var at: Timestamp

    public init(
        kind: Kind, group: Group, by: ObjectID, added: [GroupMember] = [], removed: [ObjectID] = [],
        roles: [GroupMember] = [], at: Timestamp
    ) {
        self.at = at
        self.kind = kind
        self.group = group
        self.by = by
        self.added = added
        self.removed = removed
        self.roles = roles
    }

    /// The notice for a membership change's outcome.
    public init(
        _ outcome: GroupChangeOutcome, of change: GroupChange, group: Group, by actor: ObjectID, at time: Timestamp
    ) {
        let kind: Kind =
            if outcome.closed {
                .closed
            } else {
                switch change {
                case .add: .membersAdded
                case .remove(let user) where user == actor: .memberLeft
                case .remove: .memberRemoved
                case .leave: .memberLeft
                case .setRole, .transferOwnership: .rolesChanged
                }
            }
        let roles = outcome.roles.sorted { $0.key < $1.key }.map { user, role in
            GroupMember(userID: user, role: role, joinedAt: time)
        }
        self.init(
            kind: kind, group: group, by: actor, added: outcome.added, removed: outcome.removed, roles: roles, at: time)
    }
}

extension GroupNotice: JSONWritable {
    /// The JSON form, the body of `group-changed`.
    public func writeJSON(into json: inout JSONWriter) {
        json.beginObject()
        json.member("change", kind.rawValue)
        json.member("groupId", group.id.hexString)
        json.key("group")
        group.writeJSON(into: &json)
        json.member("by", by.hexString)
        json.member("at", at.iso8601)
        json.key("added")
        json.beginArray()
        for member in added { member.writeJSON(into: &json) }
        json.endArray()
        json.key("removed")
        json.beginArray()
        for user in removed { json.string(user.hexString) }
        json.endArray()
        json.key("roles")
        json.beginArray()
        for member in roles {
            json.beginObject()
            json.member("userId", member.userID.hexString)
            json.member("role", member.role.rawValue)
            json.endObject()
        }
        json.endArray()
        json.endObject()
    }

    init(reading reader: inout JSONReader) throws(JSONReader.Malformed) {
        var kind: Kind?
        var group: Group?
        var by: ObjectID?
        var at: Timestamp?
        var added: [GroupMember] = []
        var removed: [ObjectID] = []
        var roles: [GroupMember] = []
        try reader.readObject { reader, key throws(JSONReader.Malformed) in
            switch key {
            case "change": kind = Kind(rawValue: try reader.readString())
            case "group": group = try Group(reading: &reader)
            case "by": by = try reader.readObjectID()
            case "at": at = try reader.readTimestampOrNull()
            case "added":
                try reader.readArray { reader throws(JSONReader.Malformed) in
                    added.append(try GroupMember(reading: &reader, defaultTime: nil))
                }
            case "removed":
                try reader.readArray { reader throws(JSONReader.Malformed) in removed.append(try reader.readObjectID())
                }
            case "roles":
                try reader.readArray { reader throws(JSONReader.Malformed) in
                    roles.append(try GroupMember(reading: &reader, defaultTime: Timestamp(millisecondsSince1970: 0)))
                }
            default: try reader.skipValue()
            }
        }
        guard let kind, let group, let by, let at else {
            throw reader.malformed("a group notice needs change, group, by and at")
        }
        roles = roles.map { GroupMember(userID: $0.userID, role: $0.role, joinedAt: at) }
        self.init(kind: kind, group: group, by: by, added: added, removed: removed, roles: roles, at: at)
    }
}

extension Group: JSONWritable {
    /// `{_id, name, avatar, createdAt, updatedAt}`: what clients see of a group (the media id and
    /// closing time stay inside).
    public func writeJSON(into json: inout JSONWriter) {
        json.beginObject()
        json.member("_id", id.hexString)
        json.member("name", name)
        json.member("avatar", avatar)
        json.member("createdAt", createdAt.iso8601)
        json.member("updatedAt", updatedAt.iso8601)
        json.endObject()
    }

    init(reading reader: inout JSONReader) throws(JSONReader.Malformed) {
        var id: ObjectID?
        var name: String?
        var avatar = ""
        var createdAt, updatedAt: Timestamp?
        try reader.readObject { reader, key throws(JSONReader.Malformed) in
            switch key {
            case "_id": id = try reader.readObjectID()
            case "name": name = try reader.readString()
            case "avatar": avatar = try reader.readStringOrNull() ?? ""
            case "createdAt": createdAt = try reader.readTimestampOrNull()
            case "updatedAt": updatedAt = try reader.readTimestampOrNull()
            default: try reader.skipValue()
            }
        }
        guard let id, let name, let createdAt, let updatedAt else {
            throw reader.malformed("a group needs _id, name, createdAt and updatedAt")
        }
        self.init(id: id, name: name, avatar: avatar, createdAt: createdAt, updatedAt: updatedAt)
    }
}

extension GroupMember {
    func writeJSON(into json: inout JSONWriter) {
        json.beginObject()
        json.member("userId", userID.hexString)
        json.member("role", role.rawValue)
        json.member("joinedAt", joinedAt.iso8601)
        json.endObject()
    }

    init(reading reader: inout JSONReader, defaultTime: Timestamp?) throws(JSONReader.Malformed) {
        var user: ObjectID?
        var role: GroupRole?
        var joinedAt = defaultTime
        try reader.readObject { reader, key throws(JSONReader.Malformed) in
            switch key {
            case "userId": user = try reader.readObjectID()
            case "role": role = GroupRole(rawValue: try reader.readString())
            case "joinedAt": joinedAt = try reader.readTimestampOrNull()
            default: try reader.skipValue()
            }
        }
        guard let user, let role, let joinedAt else {
            throw reader.malformed("a member needs userId, role and joinedAt")
        }
        self.init(userID: user, role: role, joinedAt: joinedAt)
    }
}
