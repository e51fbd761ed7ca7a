import HTTPTypes
import Hummingbird
import HummingbirdAuth
import ParleyChat
import ParleyDomain

/// `/api/groups`: groups, their members and messages. Every route needs a session; to anyone
/// who is not a member a group does not exist (404 `group_not_found`).
struct GroupController {
    let groups: GroupService
    let auth: AuthService
    /// Largest request body accepted, in bytes (room for the largest image as a data URI).
    let bodyLimit: Int

    func addRoutes(to group: RouterGroup<ParleyRequestContext>) {
        group.add(middleware: SessionAuthenticator(auth: auth))
        // Answers that list every group of a user or every member of a group (up to
        // GROUP_MAX_MEMBERS) are read and encoded off the event loops; messages stay on them.
        let whole = group.group().add(middleware: OffEventLoop())
        whole.get(use: list)
        whole.post(use: create)
        whole.get(":groupId", use: read)
        whole.patch(":groupId", use: update)
        whole.post(":groupId/members", use: addMembers)
        group.delete(":groupId/members/:userId", use: removeMember)
        whole.put(":groupId/members/:userId/role", use: setRole)
        whole.post(":groupId/owner", use: transferOwnership)
        group.post(":groupId/leave", use: leave)
        group.get(":groupId/messages", use: history)
        group.post(":groupId/messages", use: send)
        group.patch(":groupId/messages/:messageId", use: edit)
        group.delete(":groupId/messages/:messageId", use: delete)
        group.post(":groupId/read", use: markRead)
    }

    /// The answer to marking a group read: the receipt, and whether the position moved.
    struct ReadReply: ResponseEncodable {
        var groupId: ObjectID
        var upTo: ObjectID
        var readAt: Timestamp
        var moved: Bool
    }

    @Sendable func list(request: Request, context: ParleyRequestContext) async throws -> [Group] {
        try await groups.list(of: try context.requireIdentity().userID)
    }

    @Sendable func create(request: Request, context: ParleyRequestContext) async throws -> EditedResponse<GroupDetails>
    {
        let identity = try context.requireIdentity()
        let (body, file) = try await JSONBody.decodeForm(CreateGroupRequest.self, from: request, limit: bodyLimit)
        let details = try await groups.create(
            by: identity.userID, name: body.name, members: body.members,
            avatar: try JSONBody.image(file: file, dataURI: body.avatar, field: "avatar"))
        return EditedResponse(status: .created, response: details)
    }

    @Sendable func read(request: Request, context: ParleyRequestContext) async throws -> GroupDetails {
        try await groups.group(context.parameters.get("groupId"), for: try context.requireIdentity().userID)
    }

    @Sendable func update(request: Request, context: ParleyRequestContext) async throws -> GroupDetails {
        let identity = try context.requireIdentity()
        let (body, file) = try await JSONBody.decodeForm(UpdateGroupRequest.self, from: request, limit: bodyLimit)
        return try await groups.update(
            context.parameters.get("groupId"), by: identity.userID, name: body.name,
            avatar: try JSONBody.image(file: file, dataURI: body.avatar, field: "avatar"))
    }

    @Sendable func addMembers(request: Request, context: ParleyRequestContext) async throws -> GroupDetails {
        let identity = try context.requireIdentity()
        let body = try await JSONBody.decodeFields(AddMembersRequest.self, from: request, limit: 1024 * 1024)
        return try await groups.addMembers(
            to: context.parameters.get("groupId"), by: identity.userID, members: body.members)
    }

    /// Removing someone else answers the group as it is now; removing oneself (leaving) 204.
    @Sendable func removeMember(request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let details = try await groups.removeMember(
            from: context.parameters.get("groupId"), by: identity.userID, member: context.parameters.get("userId"))
        guard let details else { return Response(status: .noContent) }
        return try context.responseEncoder.encode(details, from: request, context: context)
    }

    @Sendable func setRole(request: Request, context: ParleyRequestContext) async throws -> GroupDetails {
        let identity = try context.requireIdentity()
        let body = try await JSONBody.decodeFields(GroupRoleRequest.self, from: request, limit: 64 * 1024)
        return try await groups.setRole(
            in: context.parameters.get("groupId"), by: identity.userID, member: context.parameters.get("userId"),
            role: body.role)
    }

    @Sendable func transferOwnership(request: Request, context: ParleyRequestContext) async throws -> GroupDetails {
        let identity = try context.requireIdentity()
        let body = try await JSONBody.decodeFields(TransferOwnershipRequest.self, from: request, limit: 64 * 1024)
        return try await groups.transferOwnership(
            of: context.parameters.get("groupId"), by: identity.userID, to: body.userId)
    }

    @Sendable func leave(request: Request, context: ParleyRequestContext) async throws -> HTTPResponse.Status {
        try await groups.leave(context.parameters.get("groupId"), by: try context.requireIdentity().userID)
        return .noContent
    }

    @Sendable func history(request: Request, context: ParleyRequestContext) async throws -> [GroupMessage] {
        let identity = try context.requireIdentity()
        let query = request.uri.queryParameters
        return try await groups.history(
            of: context.parameters.get("groupId"), for: identity.userID, before: query.get("before"),
            after: query.get("after"), updatedAfter: query.get("updatedAfter"), limit: query.get("limit"))
    }

    @Sendable func send(request: Request, context: ParleyRequestContext) async throws -> EditedResponse<GroupMessage> {
        let identity = try context.requireIdentity()
        let (body, file) = try await JSONBody.decodeForm(SendGroupMessageRequest.self, from: request, limit: bodyLimit)
        let message = try await groups.send(
            from: identity.userID, to: context.parameters.get("groupId"), text: body.text,
            image: try JSONBody.image(file: file, dataURI: body.image, field: "image"))
        return EditedResponse(status: .created, response: message)
    }

    @Sendable func edit(request: Request, context: ParleyRequestContext) async throws -> GroupMessage {
        let identity = try context.requireIdentity()
        let body = try await JSONBody.decodeFields(EditMessageRequest.self, from: request, limit: 64 * 1024)
        return try await groups.edit(
            message: context.parameters.get("messageId"), in: context.parameters.get("groupId"), by: identity.userID,
            text: body.text)
    }

    @Sendable func delete(request: Request, context: ParleyRequestContext) async throws -> GroupMessage {
        let identity = try context.requireIdentity()
        return try await groups.delete(
            message: context.parameters.get("messageId"), in: context.parameters.get("groupId"), by: identity.userID)
    }

    @Sendable func markRead(request: Request, context: ParleyRequestContext) async throws -> ReadReply {
        let identity = try context.requireIdentity()
        let body = try await JSONBody.decodeFields(MarkGroupReadRequest.self, from: request, limit: 64 * 1024)
        let (receipt, moved) = try await groups.markRead(
            in: context.parameters.get("groupId"), by: identity.userID, upTo: body.upTo)
        return ReadReply(groupId: receipt.groupID, upTo: receipt.upTo, readAt: receipt.readAt, moved: moved)
    }
}
