/// A verified (or freshly issued) session token: the signed JWT and what it says.
public struct SessionToken: Sendable, Hashable {
    /// The compact JWT, as it goes into the `jwt` cookie or an `Authorization: Bearer` header.
    public var token: String
    public var userID: ObjectID
    public var issuedAt: Timestamp
    public var expiresAt: Timestamp

    public init(token: String, userID: ObjectID, issuedAt: Timestamp, expiresAt: Timestamp) {
        self.token = token
        self.userID = userID
        self.issuedAt = issuedAt
        self.expiresAt = expiresAt
    }
}
