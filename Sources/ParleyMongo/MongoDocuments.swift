// The MongoDB trait builds this module (swift build --traits MongoDB); without it, it is empty.
#if MongoDB
import ParleyDomain

/// Users and messages as documents shaped like the Node app's Mongoose models, both ways.
///
/// Written documents carry exactly the Node app's fields (`__v` included) plus Parley's optional
/// ones only when set (`avatarMediaId`, `imageMediaId`, `readAt`, `editedAt`, `deletedAt`), which
/// Mongoose ignores. Reading is lenient where the Node app was: a missing avatar is none, missing
/// timestamps fall back to the id's time; what Parley cannot do without (an ObjectId `_id`, an
/// email, a password hash, the two users of a message) is a ``MongoDocumentError``.
enum MongoDocuments {
    static let users = "users"
    static let messages = "messages"
    /// Tokens logged out before they expire: `_id` is the token's fingerprint.
    static let revokedTokens = "parley_revoked_tokens"

    static func document(_ record: UserRecord) -> BSONDocument {
        let user = record.user
        var document: BSONDocument = [
            "_id": .objectID(user.id), "name": .string(user.name), "email": .string(user.email),
            "password": .string(record.passwordHash), "avatar": .string(user.avatar),
        ]
        if let mediaID = record.avatarMediaID { document["avatarMediaId"] = .string(mediaID) }
        document["createdAt"] = .date(user.createdAt)
        document["updatedAt"] = .date(user.updatedAt)
        if let revoked = record.sessionsRevokedAt { document["sessionsRevokedAt"] = .date(revoked) }
        if let deleted = record.deletedAt { document["deletedAt"] = .date(deleted) }
        document["__v"] = 0
        return document
    }

    static func userRecord(_ document: BSONDocument) throws(MongoDocumentError) -> UserRecord {
        let id = try objectID(document, "_id")
        let created = try optionalDate(document, "createdAt") ?? Timestamp(seconds: id.seconds)
        return UserRecord(
            user: User(
                id: id,
                name: try optionalString(document, "name") ?? "",
                email: try string(document, "email"),
                avatar: try optionalString(document, "avatar") ?? "",
                createdAt: created,
                updatedAt: try optionalDate(document, "updatedAt") ?? created
            ),
            passwordHash: try string(document, "password"),
            avatarMediaID: try optionalString(document, "avatarMediaId"),
            sessionsRevokedAt: try optionalDate(document, "sessionsRevokedAt"),
            deletedAt: try optionalDate(document, "deletedAt")
        )
    }

    static func document(_ message: Message) -> BSONDocument {
        var document: BSONDocument = [
            "_id": .objectID(message.id), "senderId": .objectID(message.senderID),
            "receiverId": .objectID(message.receiverID),
        ]
        if let text = message.text { document["text"] = .string(text) }
        if let image = message.image { document["image"] = .string(image) }
        if let mediaID = message.imageMediaID { document["imageMediaId"] = .string(mediaID) }
        document["createdAt"] = .date(message.createdAt)
        document["updatedAt"] = .date(message.updatedAt)
        if let readAt = message.readAt { document["readAt"] = .date(readAt) }
        if let editedAt = message.editedAt { document["editedAt"] = .date(editedAt) }
        if let deletedAt = message.deletedAt { document["deletedAt"] = .date(deletedAt) }
        document["__v"] = 0
        return document
    }

    static func message(_ document: BSONDocument) throws(MongoDocumentError) -> Message {
        let id = try objectID(document, "_id")
        let created = try optionalDate(document, "createdAt") ?? Timestamp(seconds: id.seconds)
        return Message(
            id: id,
            senderID: try objectID(document, "senderId"),
            receiverID: try objectID(document, "receiverId"),
            text: try optionalString(document, "text"),
            image: try optionalString(document, "image"),
            imageMediaID: try optionalString(document, "imageMediaId"),
            createdAt: created,
            updatedAt: try optionalDate(document, "updatedAt") ?? created,
            readAt: try optionalDate(document, "readAt"),
            editedAt: try optionalDate(document, "editedAt"),
            deletedAt: try optionalDate(document, "deletedAt")
        )
    }

    /// The document's `_id` as text, whatever its type, for reports about documents that cannot
    /// be read.
    static func idText(_ document: BSONDocument) -> String {
        switch document["_id"] {
        case .objectID(let id): id.hexString
        case .string(let string): string
        case .int32(let value): String(value)
        case .int64(let value): String(value)
        case let other?: "(\(other.typeName) id)"
        case nil: "(no _id)"
        }
    }

    // MARK: Token revocations

    /// A logged-out token: `_id` is its fingerprint.
    static func document(_ revocation: TokenRevocation) -> BSONDocument {
        [
            "_id": .string(revocation.fingerprint), "userId": .objectID(revocation.userID),
            "expiresAt": .date(revocation.expiresAt), "revokedAt": .date(revocation.revokedAt),
        ]
    }

    static func tokenRevocation(_ document: BSONDocument) throws(MongoDocumentError) -> TokenRevocation {
        guard let expiresAt = try optionalDate(document, "expiresAt") else {
            throw MongoDocumentError("expiresAt", "is missing")
        }
        guard let revokedAt = try optionalDate(document, "revokedAt") else {
            throw MongoDocumentError("revokedAt", "is missing")
        }
        return TokenRevocation(
            fingerprint: try string(document, "_id"), userID: try objectID(document, "userId"), expiresAt: expiresAt,
            revokedAt: revokedAt)
    }

    // MARK: Fields

    /// An ObjectId, or a string of 24 hex digits (how some applications store references).
    static func objectID(_ document: BSONDocument, _ field: String) throws(MongoDocumentError) -> ObjectID {
        switch document[field] {
        case .objectID(let id): return id
        case .string(let string):
            guard let id = ObjectID(string) else { throw MongoDocumentError(field, "is not an ObjectId") }
            return id
        case let value?: throw MongoDocumentError(field, "is a \(value.typeName), not an ObjectId")
        case nil: throw MongoDocumentError(field, "is missing")
        }
    }

    static func string(_ document: BSONDocument, _ field: String) throws(MongoDocumentError) -> String {
        guard let value = try optionalString(document, field) else { throw MongoDocumentError(field, "is missing") }
        return value
    }

    static func optionalString(_ document: BSONDocument, _ field: String) throws(MongoDocumentError)
        -> String?
    {
        switch document[field] {
        case .string(let value): return value
        case .null?, nil: return nil
        case let value?: throw MongoDocumentError(field, "is a \(value.typeName), not a string")
        }
    }

    static func optionalDate(_ document: BSONDocument, _ field: String) throws(MongoDocumentError)
        -> Timestamp?
    {
        switch document[field] {
        case .date(let milliseconds): return Timestamp(millisecondsSince1970: milliseconds)
        case .null?, nil: return nil
        case let value?: throw MongoDocumentError(field, "is a \(value.typeName), not a date")
        }
    }
}

/// Why a stored document cannot be read as a user or a message.
public struct MongoDocumentError: Error, Sendable, Hashable, CustomStringConvertible {
    public var field: String
    public var problem: String

    init(_ field: String, _ problem: String) {
        self.field = field
        self.problem = problem
    }

    public var description: String { "\(field) \(problem)" }
}

extension Timestamp {
    init(seconds: UInt32) { self.init(millisecondsSince1970: Int64(seconds) * 1000) }
}
#endif
