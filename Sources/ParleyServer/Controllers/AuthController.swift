import Hummingbird
import HummingbirdAuth
import Logging
import ParleyChat
import ParleyDomain

/// `/api/auth`: sign-up, log-in, log-out (here or everywhere), profile update, session check, and
/// the account itself: its data as JSON, its deletion.
struct AuthController {
    let auth: AuthService
    /// A deleted account leaves its groups.
    let groups: GroupService
    let exporter: AccountExporter
    let cookie: SessionCookie
    let rateLimit: AuthRateLimit
    /// Largest request body accepted, in bytes (room for the largest image as a data URI).
    let bodyLimit: Int
    /// Largest login body accepted: an email and a password. A login is read before its rate
    /// limit can be checked (the limit is per email too), so it must not be an image's size.
    static let logInBodyLimit = 64 * 1024

    func addRoutes(to group: RouterGroup<ParleyRequestContext>) {
        group.post("signup", use: signUp)
        group.post("login", use: logIn)
        group.post("logout", use: logOut)
        group.group()
            .add(middleware: SessionAuthenticator(auth: auth))
            .put("update", use: update)
            .get("check", use: check)
            .post("logout-all", use: logOutEverywhere)
            .get("export", use: export)
            .delete("account", use: deleteAccount)
    }

    struct Answer: ResponseEncodable {
        var message: String
    }

    struct PasswordRequest: FormDecodable {
        static let fieldNames = ["password"]
        var password: String?

        init(fields: [String: String]) {
            password = fields["password"]
        }
    }

    @Sendable func signUp(request: Request, context: ParleyRequestContext) async throws -> EditedResponse<User> {
        let (body, file) = try await JSONBody.decodeForm(SignUpRequest.self, from: request, limit: bodyLimit)
        try rateLimit.check(request: request, context: context, email: body.email)
        let session = try await auth.signUp(
            name: body.name,
            email: body.email,
            password: body.password,
            avatar: try JSONBody.image(file: file, dataURI: body.avatar, field: "avatar")
        )
        return signedIn(session, status: .created)
    }

    @Sendable func logIn(request: Request, context: ParleyRequestContext) async throws -> EditedResponse<User> {
        let body = try await JSONBody.decodeFields(LogInRequest.self, from: request, limit: Self.logInBodyLimit)
        try rateLimit.check(request: request, context: context, email: body.email)
        let session = try await auth.logIn(email: body.email, password: body.password)
        return signedIn(session, status: .ok)
    }

    /// Ends the session the request carries (its token is refused from now on, on every instance,
    /// and its sockets end) and clears the cookie. Without a valid token it only clears the cookie.
    @Sendable func logOut(request: Request, context: ParleyRequestContext) async throws -> EditedResponse<Answer> {
        if let token = SessionCookie.token(in: request) {
            try await auth.logOut(token: token)
        }
        return signedOut("Logged out successfully")
    }

    /// Ends every session of the user, this one included.
    @Sendable func logOutEverywhere(request: Request, context: ParleyRequestContext) async throws
        -> EditedResponse<Answer>
    {
        try await auth.logOutEverywhere(try context.requireIdentity().session)
        return signedOut("Logged out everywhere")
    }

    /// Deletes the account, once the password is given again.
    @Sendable func deleteAccount(request: Request, context: ParleyRequestContext) async throws
        -> EditedResponse<Answer>
    {
        let session = try context.requireIdentity().session
        let body = try await JSONBody.decodeFields(PasswordRequest.self, from: request, limit: 64 * 1024)
        // Guessing the password through this route is held to the log-in limits.
        let user = try await auth.user(of: session)
        try rateLimit.check(request: request, context: context, email: user.email)
        try await auth.deleteAccount(session, password: body.password)
        await groups.leaveAll(of: session.userID)
        return signedOut("Account deleted")
    }

    /// Everything Parley holds about the user, as one JSON document (streamed).
    @Sendable func export(request: Request, context: ParleyRequestContext) async throws -> Response {
        let session = try context.requireIdentity().session
        let user = try await auth.user(of: session)
        return Response(
            status: .ok,
            headers: [
                .contentType: "application/json; charset=utf-8",
                .contentDisposition: "attachment; filename=\"parley-export-\(user.id.hexString).json\"",
            ],
            body: ResponseBody(asyncSequence: exporter.export(user).map { ByteBuffer(bytes: $0) })
        )
    }

    private func signedOut(_ message: String) -> EditedResponse<Answer> {
        EditedResponse(headers: [.setCookie: cookie.clear().description], response: Answer(message: message))
    }

    @Sendable func update(request: Request, context: ParleyRequestContext) async throws -> User {
        let identity = try context.requireIdentity()
        let (body, file) = try await JSONBody.decodeForm(ProfileUpdateRequest.self, from: request, limit: bodyLimit)
        let avatar = try JSONBody.image(file: file, dataURI: body.avatar, field: "avatar")
        let removeAvatar = body.avatar == ""
        let user = try await auth.updateProfile(
            of: identity.userID,
            name: body.name,
            avatar: removeAvatar ? nil : avatar,
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
