import JSONText

/// A person with an account, as every API response shows them.
///
/// The JSON form follows the Node app's Mongoose model (`_id`, `name`, `email`, `avatar`,
/// `createdAt`, `updatedAt`) so its frontends keep working. The password hash is deliberately not
/// part of this type: it lives in ``UserRecord`` and can never be encoded into a response.
public struct User: Sendable, Hashable {
    public var id: ObjectID
    public var name: String
    /// Trimmed and lower-cased; unique across users.
    public var email: String
    /// Image URL, or the empty string when the user has none.
    public var avatar: String
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(id: ObjectID, name: String, email: String, avatar: String, createdAt: Timestamp, updatedAt: Timestamp) {
        self.id = id
        self.name = name
        self.email = email
        self.avatar = avatar
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

extension User: Codable {
    enum CodingKeys: String, CodingKey {
        case id = "_id"
        case name, email, avatar, createdAt, updatedAt
    }
}

extension User: JSONWritable {
    /// The JSON form, members in sorted order (as a sorted-keys encoder writes ``encode(to:)``'s):
    /// every session check answers with it.
    public func writeJSON(into json: inout JSONWriter) {
        json.beginObject()
        json.member("_id", id.hexString)
        json.member("avatar", avatar)
        json.member("createdAt", createdAt.iso8601)
        json.member("email", email)
        json.member("name", name)
        json.member("updatedAt", updatedAt.iso8601)
        json.endObject()
    }
}

/// A user as a store keeps them: the public ``User`` plus what never leaves the server.
public struct UserRecord: Sendable, Hashable {
    public var user: User
    /// A bcrypt hash (`$2a$`/`$2b$`), as the Node app's bcryptjs wrote it or Parley writes it.
    public var passwordHash: String
    /// The media store's id of the avatar image, used to delete it when it is replaced.
    public var avatarMediaID: String?
    /// Every token of the user issued at or before this time is no longer valid ("log out
    /// everywhere", or the account deleted).
    public var sessionsRevokedAt: Timestamp?
    /// When the account was deleted: the record stays as a tombstone (messages keep their sender
    /// and receiver) with no name, avatar, password, or email of its own.
    public var deletedAt: Timestamp?

    public init(
        user: User,
        passwordHash: String,
        avatarMediaID: String? = nil,
        sessionsRevokedAt: Timestamp? = nil,
        deletedAt: Timestamp? = nil
    ) {
        self.user = user
        self.passwordHash = passwordHash
        self.avatarMediaID = avatarMediaID
        self.sessionsRevokedAt = sessionsRevokedAt
        self.deletedAt = deletedAt
    }

    /// Whether a token of this user issued at `issuedAt` was revoked (or the account deleted).
    public func revokes(tokenIssuedAt issuedAt: Timestamp) -> Bool {
        if deletedAt != nil { return true }
        guard let sessionsRevokedAt else { return false }
        return issuedAt <= sessionsRevokedAt
    }

    /// The tombstone a deleted account leaves: the same id and creation time, nothing else of the
    /// person, every session revoked. Its email is a placeholder no one can sign up with (the
    /// `.invalid` top-level domain is reserved), so the real one is free again.
    public func tombstone(at time: Timestamp) -> UserRecord {
        UserRecord(
            user: User(
                id: user.id,
                name: "",
                email: Self.deletedEmail(of: user.id),
                avatar: "",
                createdAt: user.createdAt,
                updatedAt: time
            ),
            passwordHash: "",
            avatarMediaID: nil,
            sessionsRevokedAt: time,
            deletedAt: time
        )
    }

    public static func deletedEmail(of id: ObjectID) -> String { "deleted-\(id.hexString)@deleted.invalid" }
}

/// What an update may change on a user; `nil` leaves a field as it is.
public struct UserChanges: Sendable, Hashable {
    public var name: String?
    /// The new avatar; a reference with an empty URL removes the avatar.
    public var avatar: MediaReference?

    public init(name: String? = nil, avatar: MediaReference? = nil) {
        self.name = name
        self.avatar = avatar
    }
}

extension UserRecord {
    /// This record with `changes` applied and `updatedAt` set to `time`: what every store writes.
    public func applying(_ changes: UserChanges, at time: Timestamp) -> UserRecord {
        var updated = self
        if let name = changes.name { updated.user.name = name }
        if let avatar = changes.avatar {
            updated.user.avatar = avatar.url
            updated.avatarMediaID = avatar.mediaID
        }
        updated.user.updatedAt = time
        return updated
    }
}
