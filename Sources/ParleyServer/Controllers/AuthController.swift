import Hummingbird
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
            .add(middleware: AuthenticationMiddleware(auth: auth))
            .put("update", use: update)
            .get("check", use: check)
    }

    struct LogOutAnswer: Encodable {
        var message = "Logged out successfully"
    }

    @Sendable func signUp(request: Request, context: ParleyRequestContext) async throws -> Response {
        let (body, file) = try await JSONBody.decodeForm(SignUpRequest.self, from: request, limit: bodyLimit)
        try rateLimit.check(request: request, context: context, email: body.email)
        let session = try await auth.signUp(
            name: body.name,
            email: body.email,
            password: body.password,
            avatar: file.map(ImageInput.bytes) ?? body.avatar.map(ImageInput.dataURI)
        )
        return sessionResponse(session, status: .created)
    }

    @Sendable func logIn(request: Request, context: ParleyRequestContext) async throws -> Response {
        let body = try await JSONBody.decodeFields(LogInRequest.self, from: request, limit: bodyLimit)
        try rateLimit.check(request: request, context: context, email: body.email)
        let session = try await auth.logIn(email: body.email, password: body.password)
        return sessionResponse(session, status: .ok)
    }

    @Sendable func logOut(request: Request, context: ParleyRequestContext) async throws -> Response {
        // A valid token's sockets end with it, on every instance.
        if let token = SessionCookie.token(in: request), (try? await auth.authenticate(token: token)) != nil {
            do {
                try await realtime.endSessions(usingToken: token)
            } catch {
                context.logger.warning(
                    "Could not end the sockets of a logged-out session", metadata: ["error": "\(error)"])
            }
        }
        var response = JSONResponse.make(LogOutAnswer())
        response.setCookie(cookie.clear())
        return response
    }

    @Sendable func update(request: Request, context: ParleyRequestContext) async throws -> Response {
        let identity = try context.requireIdentity()
        let (body, file) = try await JSONBody.decodeForm(ProfileUpdateRequest.self, from: request, limit: bodyLimit)
        let removeAvatar = file == nil && body.avatar == ""
        let user = try await auth.updateProfile(
            of: identity.userID,
            name: body.name,
            avatar: file.map(ImageInput.bytes) ?? (removeAvatar ? nil : body.avatar.map(ImageInput.dataURI)),
            removeAvatar: removeAvatar
        )
        return JSONResponse.make(user)
    }

    @Sendable func check(request: Request, context: ParleyRequestContext) async throws -> Response {
        JSONResponse.make(try await auth.user(of: try context.requireIdentity().session))
    }

    private func sessionResponse(_ session: AuthService.Session, status: HTTPResponse.Status) -> Response {
        var response = JSONResponse.make(session.user, status: status)
        response.setCookie(cookie.issue(session.token))
        return response
    }
}
