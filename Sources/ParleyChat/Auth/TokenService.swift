import JWTKit
import ParleyDomain

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Issues and verifies the session JWT as the Node app does (HS256, claims `userId`, `iat`, `exp`,
/// seven days), so a token it issued stays valid after switching servers; Parley's tokens add a
/// random `jti`, so that each session can be logged out on its own.
public struct TokenService: Sendable {
    /// RFC 7518 §3.2: an HS256 key must be at least as long as the hash output.
    public static let minimumSecretBytes = 32
    public static let defaultLifetimeSeconds: Int64 = 7 * 24 * 60 * 60

    /// Seconds a token stays valid after it is issued.
    public let lifetimeSeconds: Int64
    private let keys: JWTKeyCollection

    /// - Throws: ``ParleyError`` when the secret is shorter than ``minimumSecretBytes``.
    public init(secret: String, lifetimeSeconds: Int64 = TokenService.defaultLifetimeSeconds) async throws {
        guard secret.utf8.count >= Self.minimumSecretBytes else {
            throw ParleyError(
                .badRequest,
                code: "weak_secret",
                message: "the JWT secret must be at least \(Self.minimumSecretBytes) bytes"
            )
        }
        self.lifetimeSeconds = lifetimeSeconds
        self.keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
    }

    /// A new token for `userID`, valid from now for ``lifetimeSeconds``.
    /// - Parameter revokedUpTo: the user's sessions were revoked up to this time ("log out
    ///   everywhere"): the new token is issued after it (`iat` is whole seconds, so a login in the
    ///   same second as the revocation gets the next second rather than a token born revoked).
    public func issue(for userID: ObjectID, now: Timestamp = .now(), revokedUpTo: Timestamp? = nil)
        async throws -> SessionToken
    {
        // Whole seconds: jwt-kit would otherwise write fractional `iat`/`exp`, which other
        // libraries reject.
        var issued = now.millisecondsSince1970 / 1000
        if let revokedUpTo { issued = max(issued, revokedUpTo.millisecondsSince1970 / 1000 + 1) }
        let claims = Claims(
            userId: userID.hexString,
            iat: IssuedAtClaim(value: Date(timeIntervalSince1970: Double(issued))),
            exp: ExpirationClaim(value: Date(timeIntervalSince1970: Double(issued + lifetimeSeconds))),
            jti: Self.newTokenID()
        )
        let token = try await keys.sign(claims)
        return SessionToken(
            token: token,
            userID: userID,
            issuedAt: Timestamp(millisecondsSince1970: issued * 1000),
            expiresAt: Timestamp(millisecondsSince1970: (issued + lifetimeSeconds) * 1000)
        )
    }

    /// Verifies signature, algorithm and expiry.
    /// - Throws: ``ParleyError/unauthorized`` for any token that is not valid now.
    public func verify(_ token: String) async throws -> SessionToken {
        guard token.utf8.count <= 4096, Self.isCanonical(token), Self.headerAlgorithm(of: token) == "HS256" else {
            throw ParleyError.unauthorized
        }
        let claims: Claims
        do {
            claims = try await keys.verify(token, as: Claims.self)
        } catch {
            throw ParleyError.unauthorized
        }
        // Any number is a valid claim to jwt-kit; one beyond a JavaScript date (a token minted
        // elsewhere with the shared secret) is refused, never converted with a trap.
        guard let userID = ObjectID(claims.userId),
            let issuedAt = Timestamp(exactly: claims.iat.value),
            let expiresAt = Timestamp(exactly: claims.exp.value)
        else { throw ParleyError.unauthorized }
        return SessionToken(token: token, userID: userID, issuedAt: issuedAt, expiresAt: expiresAt)
    }

    /// Whether each of the token's three parts is unpadded base64url written the one way it can
    /// be. A token is known by its text (revoked ones, the sockets a logout ends: see
    /// ``SessionToken/fingerprint``), but jwt-kit checks a signature by its bytes, and the same
    /// bytes have other spellings: a trailing `=`, or other values in the unused low bits of the
    /// last character. Such a copy of a logged-out token would have been a valid token that was
    /// not revoked.
    static func isCanonical(_ token: String) -> Bool {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else { return false }
        return parts.allSatisfy { part in
            guard let bytes = Data(base64URLEncoded: part) else { return false }
            return bytes.base64URLEncodedString.utf8.elementsEqual(part.utf8)
        }
    }

    /// The `alg` of the token's header, without trusting anything else in it.
    private static func headerAlgorithm(of token: String) -> String? {
        guard let headerPart = token.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false).first
        else { return nil }
        // The header this service and Node's jsonwebtoken write, known without decoding it.
        if headerPart == "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9" { return "HS256" }
        guard let data = Data(base64URLEncoded: headerPart),
            let header = try? JSONDecoder().decode(Header.self, from: data)
        else { return nil }
        return header.alg
    }

    private struct Header: Decodable {
        var alg: String
    }

    /// 128 random bits, hex: makes every token distinct (two logins in one second would otherwise
    /// get the very same token, and logging one out would end the other).
    private static func newTokenID() -> String {
        (0..<2).map { _ in
            let hex = String(UInt64.random(in: .min ... .max), radix: 16)
            return String(repeating: "0", count: 16 - hex.count) + hex
        }.joined()
    }

    /// The Node app's claims, and `jti`, which its tokens do not have (and its jsonwebtoken
    /// ignores in Parley's).
    private struct Claims: JWTPayload {
        var userId: String
        var iat: IssuedAtClaim
        var exp: ExpirationClaim
        var jti: String?

        func verify(using algorithm: some JWTAlgorithm) async throws {
            try exp.verifyNotExpired()
        }
    }
}

extension Data {
    /// Decodes unpadded base64url (RFC 4648 §5), as JWT segments are written.
    init?(base64URLEncoded string: Substring) {
        var base64 = String(string).replacing("-", with: "+").replacing("_", with: "/")
        let remainder = base64.utf8.count % 4
        guard remainder != 1 else { return nil }
        if remainder > 0 { base64 += String(repeating: "=", count: 4 - remainder) }
        self.init(base64Encoded: base64)
    }

    /// Unpadded base64url (RFC 4648 §5).
    var base64URLEncodedString: String {
        String(
            base64EncodedString().compactMap { character -> Character? in
                switch character {
                case "+": "-"
                case "/": "_"
                case "=": nil
                default: character
                }
            }
        )
    }
}
