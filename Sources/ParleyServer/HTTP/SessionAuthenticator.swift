import Hummingbird
import ParleyChat
import ParleyDomain

/// Puts the signed-in user's session into the context, or answers 401.
///
/// Accepts the `jwt` cookie and `Authorization: Bearer`. Missing, malformed, expired and wrongly
/// signed tokens, `alg: none` and tokens of users that no longer exist are all 401.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = ParleyRequestContext
    let auth: AuthService

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        guard let token = SessionCookie.token(in: request) else {
            throw ParleyError(.unauthorized, code: "unauthorized", message: "Unauthorized - no token provided")
        }
        var context = context
        context.identity = .init(session: try await auth.authenticate(token: token))
        return try await next(request, context)
    }
}
