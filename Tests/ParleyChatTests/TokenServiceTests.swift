import Crypto
import Foundation
import ParleyChat
import ParleyDomain
import Testing

@testable import ParleyTesting

@Suite("TokenService")
struct TokenServiceTests {
    let secret = TestSecrets.jwt

    @Test func issuesTokensLikeTheNodeApp() async throws {
        let tokens = try await TokenService(secret: secret)
        let user = ObjectID()
        let session = try await tokens.issue(for: user, now: Timestamp(millisecondsSince1970: 1_800_000_000_456))
        let parts = session.token.split(separator: ".")
        #expect(parts.count == 3)
        let header = try JSONSerialization.jsonObject(with: TestTokens.base64URL(parts[0])) as? [String: Any]
        #expect(header?["alg"] as? String == "HS256")
        let claims = try #require(
            try JSONSerialization.jsonObject(with: TestTokens.base64URL(parts[1])) as? [String: Any])
        #expect(claims["userId"] as? String == user.hexString)
        // Whole seconds, as jsonwebtoken writes them.
        #expect(claims["iat"] as? Int == 1_800_000_000)
        #expect(claims["exp"] as? Int == 1_800_000_000 + 7 * 24 * 3600)
        #expect(session.expiresAt.millisecondsSince1970 == (1_800_000_000 + 7 * 24 * 3600) * 1000)
        // Plus a random id, so that two sessions started in the same second are two tokens.
        #expect((claims["jti"] as? String)?.count == 32)
        let twin = try await tokens.issue(for: user, now: Timestamp(millisecondsSince1970: 1_800_000_000_456))
        #expect(twin.token != session.token)
    }

    /// After "log out everywhere", a new token is issued after the revocation, even in its second.
    @Test func aTokenIssuedAfterARevocationIsNotBornRevoked() async throws {
        let tokens = try await TokenService(secret: secret)
        let revoked = Timestamp(millisecondsSince1970: 1_800_000_000_456)
        let session = try await tokens.issue(
            for: ObjectID(), now: Timestamp(millisecondsSince1970: 1_800_000_000_789), revokedUpTo: revoked)
        #expect(session.issuedAt > revoked)
        #expect(session.issuedAt.millisecondsSince1970 == 1_800_000_001_000)
    }

    @Test func verifiesItsOwnTokens() async throws {
        let tokens = try await TokenService(secret: secret)
        let user = ObjectID()
        let issued = try await tokens.issue(for: user)
        let verified = try await tokens.verify(issued.token)
        #expect(verified.userID == user)
        #expect(verified.expiresAt == issued.expiresAt)
    }

    /// Made by PyJWT (the same format as Node's jsonwebtoken) with the test secret.
    @Test func acceptsATokenFromAnotherLibrary() async throws {
        let tokens = try await TokenService(secret: secret)
        let foreign =
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VySWQiOiI2YjA2MTBkNDI0MThmZWIzODRhNGRjZjQiLCJpYXQiOjE3MDAwMDAwMDAsImV4cCI6NDEwMjQ0NDgwMH0.mEfHGpdlp1gvpDBAAovTp7h0hMRj389ALWPzDfHt5Ok"
        let session = try await tokens.verify(foreign)
        #expect(session.userID.hexString == "6b0610d42418feb384a4dcf4")
    }

    @Test func refusesBadTokens() async throws {
        let tokens = try await TokenService(secret: secret)
        let user = ObjectID().hexString
        let future = Int(Date().timeIntervalSince1970) + 3600
        let bad = [
            "",
            "garbage",
            "a.b.c",
            // Expired.
            TestTokens.sign(["alg": "HS256", "typ": "JWT"], ["userId": user, "iat": 1, "exp": 2], secret: secret),
            TestTokens.sign(
                ["alg": "HS256", "typ": "JWT"], ["userId": user, "exp": future],
                secret: "another-secret-that-is-long-enough-xx"),
            TestTokens.sign(["alg": "HS512", "typ": "JWT"], ["userId": user, "exp": future], secret: secret),
            TestTokens.unsigned(["alg": "none", "typ": "JWT"], ["userId": user, "exp": future]),
            TestTokens.sign(["alg": "HS256", "typ": "JWT"], ["userId": "not-an-id", "exp": future], secret: secret),
            TestTokens.sign(["alg": "HS256", "typ": "JWT"], ["userId": user], secret: secret),  // no exp
            String(repeating: "a", count: 10_000),
        ]
        for token in bad {
            await #expect(throws: ParleyError.unauthorized, "\(token.prefix(60))") { try await tokens.verify(token) }
        }
    }

    /// The same signature spelt another way is another text: once the token is logged out, that
    /// copy would not be revoked. Every part must be written the one way base64url writes it.
    @Test func refusesTokensWithAPartSpeltAnotherWay() async throws {
        let tokens = try await TokenService(secret: secret)
        let token = try await tokens.issue(for: ObjectID()).token
        _ = try await tokens.verify(token)
        let last = try #require(token.last)
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        let value = try #require(alphabet.firstIndex(of: last))
        // A 32-byte signature is 43 characters: the last carries 4 bits and 2 unused ones.
        let sameBits = (0..<4).map { alphabet[value & ~3 | $0] }.filter { $0 != last }
        #expect(sameBits.count == 3)
        var respelt = sameBits.map { String(token.dropLast()) + String($0) }
        respelt += [token + "=", token + "==", token.replacing(".", with: "=.")]
        for other in respelt {
            await #expect(throws: ParleyError.unauthorized, "\(other.suffix(8))") { try await tokens.verify(other) }
        }
    }

    /// Signed with the right secret but with times no date can hold: 401, never a trap
    /// (converting such a `Double` to milliseconds used to crash the server).
    @Test(arguments: [9.3e15, 1e19, 1e300, -1e19, -9.3e15])
    func refusesClaimsBeyondAnyDate(time: Double) async throws {
        let tokens = try await TokenService(secret: secret)
        let user = ObjectID().hexString
        let now = Int(Date().timeIntervalSince1970)
        let claims: [[String: Any]] = [
            ["userId": user, "iat": time, "exp": now + 3600],
            ["userId": user, "iat": now, "exp": time],
            ["userId": user, "iat": time, "exp": time],
        ]
        for claim in claims {
            let token = TestTokens.sign(["alg": "HS256", "typ": "JWT"], claim, secret: secret)
            await #expect(throws: ParleyError.unauthorized, "\(claim)") { try await tokens.verify(token) }
        }
    }

    @Test func refusesAShortSecret() async {
        await #expect(throws: ParleyError.self) { try await TokenService(secret: "too-short") }
    }
}
