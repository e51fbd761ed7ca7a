import Hummingbird
import HummingbirdAuth
import ParleyChat
import ParleyDomain

/// hummingbird-auth's authenticator for Parley's sessions: puts the signed-in user's session into
/// the context, or answers 401.
///
/// Accepts the `jwt` cookie and `Authorization: Bearer`. Every route behind it needs a session,
/// so a missing token is refused here (with the Node app's message) rather than passed on; a
/// malformed, expired or wrongly signed token, `alg: none` and the token of a user who no longer
/// exists are all 401.
struct SessionAuthenticator: AuthenticatorMiddleware {
    typealias Context = ParleyRequestContext
    let auth: AuthService

    func authenticate(request: Request, context: Context) async throws -> Context.Identity? {
        guard let token = SessionCookie.token(in: request) else {
            throw ParleyError(.unauthorized, code: "unauthorized", message: "Unauthorized - no token provided")
        }
        return .init(session: try await auth.authenticate(token: token))
    }
}
