import HTTPTypes
import Hummingbird
import HummingbirdAuth
import ParleyChat
import ParleyDomain

/// `GET /api/conversations`: direct conversations and groups in one sidebar.
struct ConversationController {
    let conversations: ConversationList
    let auth: AuthService

    func addRoutes(to group: RouterGroup<ParleyRequestContext>) {
        group.add(middleware: SessionAuthenticator(auth: auth))
        // Every conversation and group: read and encoded off the event loops.
        group.add(middleware: OffEventLoop())
        group.get(use: list)
    }

    @Sendable func list(request: Request, context: ParleyRequestContext) async throws
        -> EditedResponse<[ConversationEntry]>
    {
        let identity = try context.requireIdentity()
        let query = request.uri.queryParameters
        let (entries, next) = try await conversations.page(
            of: identity.userID, limit: query.get("limit"),
            cursor: query.get("cursor").flatMap { $0.isEmpty ? nil : $0 })
        var headers = HTTPFields()
        if let next { headers[MessageController.nextCursor] = next }
        return EditedResponse(headers: headers, response: entries)
    }
}
