/// An error a client can act on: a kind (which the HTTP layer maps to a status), a stable
/// machine-readable `code` and a human-readable `message`.
///
/// Services throw only these for anything caused by the client's input or by a dependency being
/// unavailable; anything else is a bug and becomes a 500 without details.
public struct ParleyError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, independent of the transport that reports it.
    public enum Kind: Sendable, Hashable {
        case badRequest
        case unauthorized
        case forbidden
        case notFound
        case conflict
        case payloadTooLarge
        case unsupportedMediaType
        case tooManyRequests(retryAfterSeconds: Int)
        /// A dependency (database, media store) is down or overloaded.
        case unavailable
        /// A dependency answered with an error.
        case badGateway
        /// A dependency did not answer in time.
        case gatewayTimeout
    }

    public var kind: Kind
    public var code: String
    public var message: String

    public init(_ kind: Kind, code: String, message: String) {
        self.kind = kind
        self.code = code
        self.message = message
    }

    public var description: String { "\(code): \(message)" }
}

extension ParleyError {
    public static func invalidField(_ field: String, _ message: String) -> ParleyError {
        ParleyError(.badRequest, code: "invalid_\(field)", message: message)
    }

    public static func missingField(_ field: String) -> ParleyError {
        ParleyError(.badRequest, code: "missing_\(field)", message: "\(field) is required")
    }

    public static let invalidCredentials = ParleyError(
        .badRequest,
        code: "invalid_credentials",
        message: "Invalid credentials"
    )

    /// A password asked again for a sensitive action (deleting the account) that does not match:
    /// 403, not 401, since the session itself is fine.
    public static let wrongPassword = ParleyError(
        .forbidden, code: "wrong_password", message: "The password does not match this account")

    public static let emailTaken = ParleyError(.badRequest, code: "email_taken", message: "Email already exists")

    public static let unauthorized = ParleyError(.unauthorized, code: "unauthorized", message: "Unauthorized")

    public static let userNotFound = ParleyError(.notFound, code: "user_not_found", message: "User not found")

    public static let messageNotFound = ParleyError(
        .notFound,
        code: "message_not_found",
        message: "Message not found"
    )

    public static func invalidID(_ field: String) -> ParleyError {
        ParleyError(.badRequest, code: "invalid_id", message: "\(field) must be a 24-character hex id")
    }

    public static func storeUnavailable(_ detail: String = "The database is unavailable") -> ParleyError {
        ParleyError(.unavailable, code: "store_unavailable", message: detail)
    }
}
