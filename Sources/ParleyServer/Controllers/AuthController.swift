import Hummingbird
import HummingbirdAuth
import Logging
import ParleyChat
import ParleyDomain

/// `/api/auth`: sign-up, log-in, log-out, profile update and session check.
struct AuthController {
    let auth: AuthService
    let realtime: RealtimeHub
    let cookie: SessionCookie
    let rateLimit: AuthRateLimit
    /// Largest request body accepted, in bytes (room for the largest image as a data URI).
    let bodyLimit: Int

    func addRoutes(to group: RouterGroup<ParleyRequestContext>) {
        group.post("signup", use: signUp)
        group.post("login", use: logIn)
        group.post("logout", use: logOut)
        group.group()
            .add(middleware: SessionAuthenticator(auth: auth))
            .put("update", use: update)
            .get("check", use: check)
    }

    struct LogOutAnswer: ResponseEncodable {
        var message = "Logged out successfully"
    }

    @Sendable func signUp(request: Request, context: ParleyRequestContext) async throws -> EditedResponse<User> {
        let (body, file) = try await JSONBody.decodeForm(SignUpRequest.self, from: request, limit: bodyLimit)
        try rateLimit.check(request: request, context: context, email: body.email)
        let session = try await auth.signUp(
            name: body.name,
            email: body.email,
            password: body.password,
            avatar: file.map(ImageInput.bytes) ?? body.avatar.map(ImageInput.dataURI)
        )
        return signedIn(session, status: .created)
    }

    @Sendable func logIn(request: Request, context: ParleyRequestContext) async throws -> EditedResponse<User> {
        let body = try await JSONBody.decodeFields(LogInRequest.self, from: request, limit: bodyLimit)
        try rateLimit.check(request: request, context: context, email: body.email)
        let session = try await auth.logIn(email: body.email, password: body.password)
        return signedIn(session, status: .ok)
    }

    @Sendable func logOut(request: Request, context: ParleyRequestContext) async throws
        -> EditedResponse<LogOutAnswer>
    {
        // A valid token's sockets end with it, on every instance.
        if let token = SessionCookie.token(in: request), (try? await auth.authenticate(token: token)) != nil {
            do {
                try await realtime.endSessions(usingToken: token)
            } catch {
                context.logger.warning(
                    "Could not end the sockets of a logged-out session", metadata: ["error": "\(error)"])
            }
        }
        return EditedResponse(headers: [.setCookie: cookie.clear().description], response: LogOutAnswer())
    }

    @Sendable func update(request: Request, context: ParleyRequestContext) async throws -> User {
        let identity = try context.requireIdentity()
        let (body, file) = try await JSONBody.decodeForm(ProfileUpdateRequest.self, from: request, limit: bodyLimit)
        let removeAvatar = file == nil && body.avatar == ""
        let user = try await auth.updateProfile(
            of: identity.userID,
            name: body.name,
            avatar: file.map(ImageInput.bytes) ?? (removeAvatar ? nil : body.avatar.map(ImageInput.dataURI)),
            removeAvatar: removeAvatar
        )
        return user
    }

    @Sendable func check(request: Request, context: ParleyRequestContext) async throws -> User {
        try await auth.user(of: try context.requireIdentity().session)
    }

    /// The user, with the session cookie.
    private func signedIn(_ session: AuthService.Session, status: HTTPResponse.Status) -> EditedResponse<User> {
        EditedResponse(
            status: status, headers: [.setCookie: cookie.issue(session.token).description], response: session.user)
    }
}
