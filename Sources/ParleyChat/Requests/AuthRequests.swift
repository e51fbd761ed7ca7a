/// `POST /api/auth/signup`: `{name, email, password, avatar?}` (multipart: the avatar as a file).
public struct SignUpRequest: FormDecodable {
    public static let fieldNames = ["name", "email", "password", "avatar"]
    public var name: String?
    public var email: String?
    public var password: String?
    /// A data URI (multipart: a file part instead).
    public var avatar: String?

    public init(fields: [String: String]) {
        name = fields["name"]
        email = fields["email"]
        password = fields["password"]
        avatar = fields["avatar"]
    }
}

/// `POST /api/auth/login`: `{email, password}`.
public struct LogInRequest: FormDecodable {
    public static let fieldNames = ["email", "password"]
    public var email: String?
    public var password: String?

    public init(fields: [String: String]) {
        email = fields["email"]
        password = fields["password"]
    }
}

/// `PUT /api/auth/update`: `{name?, avatar?}`; an empty `avatar` removes it.
public struct ProfileUpdateRequest: FormDecodable {
    public static let fieldNames = ["name", "avatar"]
    public var name: String?
    /// A data URI (multipart: a file part instead); the empty string removes the avatar.
    public var avatar: String?

    public init(fields: [String: String]) {
        name = fields["name"]
        avatar = fields["avatar"]
    }
}
