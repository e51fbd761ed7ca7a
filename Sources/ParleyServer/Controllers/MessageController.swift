import Hummingbird
import ParleyChat

/// `/api/message`: contacts, conversations and sending. Every route needs a session.
struct MessageController {
    let messages: MessageService
    let auth: AuthService
    /// Largest request body accepted, in bytes (room for the largest image as a data URI).
    let bodyLimit: Int

    func addRoutes(to group: RouterGroup<ParleyRequestContext>) {
        group.add(middleware: AuthenticationMiddleware(auth: auth))
        group.get("users", use: contacts)
        group.get(":userId", use: conversation)
        group.post(use: send)
    }

    struct SendBody: FormDecodable {
        var to: String?
        var text: String?
        /// A data URI (multipart: a file part instead).
        var image: String?

        init(fields: [String: String]) {
            to = fields["to"]
            text = fields["text"]
            image = fields["image"]
        }
    }

    @Sendable func contacts(request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        return JSONResponse.make(try await messages.contacts(of: identity.user.id))
    }

    @Sendable func conversation(request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let query = request.uri.queryParameters
        let page = try await messages.conversation(
            of: identity.user.id,
            with: context.parameters.get("userId") ?? "",
            before: query.get("before"),
            after: query.get("after"),
            limit: query.get("limit")
        )
        return JSONResponse.make(page)
    }

    @Sendable func send(request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let (body, file) = try await JSONBody.decodeForm(SendBody.self, from: request, limit: bodyLimit)
        let message = try await messages.send(
            from: identity.user.id,
            to: body.to,
            text: body.text,
            image: file.map(ImageInput.bytes) ?? body.image.map(ImageInput.dataURI)
        )
        return JSONResponse.make(message, status: .created)
    }
}
