import HTTPTypes
import Hummingbird
import HummingbirdAuth
import ParleyChat
import ParleyDomain

/// `/api/message`: contacts, conversations and sending. Every route needs a session.
struct MessageController {
    let messages: MessageService
    let auth: AuthService
    /// Largest request body accepted, in bytes (room for the largest image as a data URI).
    let bodyLimit: Int

    func addRoutes(to group: RouterGroup<ParleyRequestContext>) {
        group.add(middleware: SessionAuthenticator(auth: auth))
        // Every user without a `limit`: read and encoded off the event loops.
        group.group("users").add(middleware: OffEventLoop()).get(use: contacts)
        // One parameter name for the segment: a user's id (GET, .../read) or a message's
        // (PATCH, DELETE), as the Node app's paths have them.
        group.get(":id", use: conversation)
        group.post(use: send)
        group.post(":id/read", use: markRead)
        group.patch(":id", use: edit)
        group.delete(":id", use: delete)
    }

    /// Where the next page of contacts starts, when there may be one.
    static let nextCursor = HTTPField.Name("X-Next-Cursor")!

    /// The answer to marking messages read: the receipt, and how many messages it marked now.
    struct ReadReply: ResponseEncodable {
        var with: ObjectID
        var upTo: ObjectID
        var readAt: Timestamp
        var marked: Int
    }

    @Sendable func contacts(request: Request, context: ParleyRequestContext) async throws
        -> EditedResponse<[Contact]>
    {
        let identity = try context.requireIdentity()
        let query = request.uri.queryParameters
        let (contacts, next) = try await messages.contacts(
            of: identity.userID,
            limit: query.get("limit"),
            // `cursor=` with nothing is the first page, as no cursor is.
            cursor: query.get("cursor").flatMap { $0.isEmpty ? nil : $0 }
        )
        var headers = HTTPFields()
        if let next { headers[Self.nextCursor] = next }
        return EditedResponse(headers: headers, response: contacts)
    }

    @Sendable func conversation(request: Request, context: ParleyRequestContext) async throws -> [Message] {
        let identity = try context.requireIdentity()
        let query = request.uri.queryParameters
        let page = try await messages.conversation(
            of: identity.userID,
            with: context.parameters.get("id") ?? "",
            before: query.get("before"),
            after: query.get("after"),
            updatedAfter: query.get("updatedAfter"),
            limit: query.get("limit")
        )
        return page
    }

    @Sendable func send(request: Request, context: ParleyRequestContext) async throws -> EditedResponse<Message> {
        let identity = try context.requireIdentity()
        let (body, file) = try await JSONBody.decodeForm(SendMessageRequest.self, from: request, limit: bodyLimit)
        let message = try await messages.send(
            from: identity.userID,
            to: body.to,
            text: body.text,
            image: try JSONBody.image(file: file, dataURI: body.image, field: "image")
        )
        return EditedResponse(status: .created, response: message)
    }

    @Sendable func markRead(request: Request, context: ParleyRequestContext) async throws -> ReadReply {
        let identity = try context.requireIdentity()
        let body = try await JSONBody.decodeFields(MarkReadRequest.self, from: request, limit: 64 * 1024)
        let (receipt, marked) = try await messages.markRead(
            by: identity.userID,
            with: context.parameters.get("id"),
            upTo: body.upTo
        )
        return ReadReply(with: receipt.with, upTo: receipt.upTo, readAt: receipt.readAt, marked: marked)
    }

    @Sendable func edit(request: Request, context: ParleyRequestContext) async throws -> Message {
        let identity = try context.requireIdentity()
        let body = try await JSONBody.decodeFields(EditMessageRequest.self, from: request, limit: 64 * 1024)
        let message = try await messages.edit(
            messageID: context.parameters.get("id"),
            by: identity.userID,
            text: body.text
        )
        return message
    }

    @Sendable func delete(request: Request, context: ParleyRequestContext) async throws -> Message {
        let identity = try context.requireIdentity()
        let message = try await messages.delete(messageID: context.parameters.get("id"), by: identity.userID)
        return message
    }
}
