/// `POST /api/groups`: `{name, members?, avatar?}`; `members` is an array of user ids.
public struct CreateGroupRequest: FormDecodable {
    public static let fieldNames = ["name", "members", "avatar"]
    public static let listFieldNames: Set<String> = ["members"]
    public var name: String?
    public var members: String?
    /// A data URI (multipart: a file part instead).
    public var avatar: String?

    public init(fields: [String: String]) {
        name = fields["name"]
        members = fields["members"]
        avatar = fields["avatar"]
    }
}

/// `PATCH /api/groups/:groupId`: `{name?, avatar?}` (`avatar: ""` removes it).
public struct UpdateGroupRequest: FormDecodable {
    public static let fieldNames = ["name", "avatar"]
    public var name: String?
    public var avatar: String?

    public init(fields: [String: String]) {
        name = fields["name"]
        avatar = fields["avatar"]
    }
}

/// `POST /api/groups/:groupId/members`: `{members}`, an array of user ids.
public struct AddMembersRequest: FormDecodable {
    public static let fieldNames = ["members"]
    public static let listFieldNames: Set<String> = ["members"]
    public var members: String?

    public init(fields: [String: String]) {
        members = fields["members"]
    }
}

/// `PUT /api/groups/:groupId/members/:userId/role`: `{role}` (`admin` or `member`).
public struct GroupRoleRequest: FormDecodable {
    public static let fieldNames = ["role"]
    public var role: String?

    public init(fields: [String: String]) {
        role = fields["role"]
    }
}

/// `POST /api/groups/:groupId/owner`: `{userId}`, the new owner.
public struct TransferOwnershipRequest: FormDecodable {
    public static let fieldNames = ["userId"]
    public var userId: String?

    public init(fields: [String: String]) {
        userId = fields["userId"]
    }
}

/// `POST /api/groups/:groupId/messages` (`{text?, image?}`) and the `send-group-message` event
/// (`{groupId, text?, image?}`).
public struct SendGroupMessageRequest: FormDecodable {
    public static let fieldNames = ["groupId", "text", "image"]
    public var groupId: String?
    public var text: String?
    public var image: String?

    public init(fields: [String: String]) {
        groupId = fields["groupId"]
        text = fields["text"]
        image = fields["image"]
    }
}

/// `POST /api/groups/:groupId/read` (`{upTo}`) and the `mark-group-read` event (`{groupId, upTo}`).
public struct MarkGroupReadRequest: FormDecodable {
    public static let fieldNames = ["groupId", "upTo"]
    public var groupId: String?
    public var upTo: String?

    public init(fields: [String: String]) {
        groupId = fields["groupId"]
        upTo = fields["upTo"]
    }
}
