// The MongoDB trait builds this module (swift build --traits MongoDB); without it, it is empty.
#if MongoDB
import ParleyDomain

/// Groups as documents a Node/Mongoose app could also read: collection `groups`, an ObjectId
/// `_id`, the members embedded (`{userId: ObjectId, role, joinedAt: Date}`), dates as dates, and
/// `version`, which every change of Parley's increments (`$inc`); a change applies only if the
/// version and the members are still the ones it read, so another program's edit is never
/// overwritten.
extension MongoDocuments {
    static let groups = "groups"

    static func document(_ group: Group, members: [GroupMember], version: Int64) -> BSONDocument {
        var document: BSONDocument = [
            "_id": .objectID(group.id), "name": .string(group.name), "avatar": .string(group.avatar),
        ]
        if let mediaID = group.avatarMediaID { document["avatarMediaId"] = .string(mediaID) }
        document["members"] = .array(members.map { .document(Self.document($0)) })
        document["createdAt"] = .date(group.createdAt)
        document["updatedAt"] = .date(group.updatedAt)
        if let closedAt = group.closedAt { document["closedAt"] = .date(closedAt) }
        document["version"] = .int64(version)
        return document
    }

    static func document(_ member: GroupMember) -> BSONDocument {
        ["userId": .objectID(member.userID), "role": .string(member.role.rawValue), "joinedAt": .date(member.joinedAt)]
    }

    /// A group document: the group, its members and its version (`nil` when the document has
    /// none: written by another program).
    static func group(_ document: BSONDocument) throws(MongoDocumentError)
        -> (group: Group, members: [GroupMember], version: BSON?)
    {
        let id = try objectID(document, "_id")
        let created = try optionalDate(document, "createdAt") ?? Timestamp(seconds: id.seconds)
        let group = Group(
            id: id, name: try string(document, "name"), avatar: try optionalString(document, "avatar") ?? "",
            avatarMediaID: try optionalString(document, "avatarMediaId"), createdAt: created,
            updatedAt: try optionalDate(document, "updatedAt") ?? created,
            closedAt: try optionalDate(document, "closedAt"))
        guard case .array(let entries)? = document["members"] else { throw MongoDocumentError("members", "is missing") }
        var members: [GroupMember] = []
        for entry in entries {
            guard case .document(let member) = entry else {
                throw MongoDocumentError("members", "holds a non-document")
            }
            guard let role = GroupRole(rawValue: try string(member, "role")) else {
                throw MongoDocumentError("members.role", "is not owner, admin or member")
            }
            guard let joined = try optionalDate(member, "joinedAt") else {
                throw MongoDocumentError("members.joinedAt", "is missing")
            }
            members.append(GroupMember(userID: try objectID(member, "userId"), role: role, joinedAt: joined))
        }
        return (group, members, document["version"])
    }
}
#endif
