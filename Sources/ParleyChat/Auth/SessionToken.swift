/// A verified (or freshly issued) session token: the signed JWT and what it says.
import Crypto
import ParleyDomain

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

    /// Identifies the token without revealing it (SHA-256, hex), e.g. to end its sockets.
    public var fingerprint: String { Self.fingerprint(of: token) }

    public static func fingerprint(of token: String) -> String {
        SHA256.hash(data: Array(token.utf8)).lowercaseHex
    }
}

extension Sequence<UInt8> {
    /// Two lower-case hex digits per byte.
    var lowercaseHex: String {
        map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
