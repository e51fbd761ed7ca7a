import Foundation
import HTTPTypes
import ParleyChat
import Testing

/// Every kind of malformed input gets a 4xx with `{message, code}`; none gets a 500.
@Suite("HTTP: bad input")
struct BadInputTests {
    @Test(arguments: StoreKind.available)
    func signUpValidation(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let valid: [String: Any] = ["name": "Ann", "email": "ann@example.com", "password": "secret1"]
            func with(_ changes: [String: Any?]) -> [String: Any] {
                var body = valid
                for (key, value) in changes { body[key] = value ?? nil }
                return body
            }
            let cases: [([String: Any], String)] = [
                (with(["name": nil]), "missing_name"),
                (with(["email": nil]), "missing_email"),
                (with(["password": nil]), "missing_password"),
                (with(["name": ""]), "invalid_name"),
                (with(["name": "   "]), "invalid_name"),
                (with(["name": String(repeating: "n", count: 101)]), "invalid_name"),
                (with(["email": "not-an-email"]), "invalid_email"),
                (with(["email": ["$ne": NSNull()]]), "invalid_email"),
                (with(["password": "12345"]), "invalid_password"),
                (with(["password": 123456]), "invalid_password"),
                (with(["name": ["Ann"]]), "invalid_name"),
                (with(["avatar": 7]), "invalid_avatar"),
                (with(["avatar": "data:image/png;base64,%%%"]), "invalid_avatar"),
            ]
            for (body, code) in cases {
                let reply = try await api.request(.post, "/api/auth/signup", json: body)
                #expect(reply.status == .badRequest, "\(body): \(reply.text)")
                #expect(reply.code == code, "\(body): \(reply.text)")
                #expect(reply.object["message"] is String)
            }
        }
    }

    @Test(arguments: StoreKind.available)
    func malformedBodies(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let raws: [(String, String)] = [
                ("{", "invalid_json"),
                ("{\"email\": }", "invalid_json"),
                ("[1,2]", "invalid_body"),
                ("\"just a string\"", "invalid_body"),
                ("null", "invalid_body"),
                (String(repeating: "[", count: 10_000), "invalid_json"),
            ]
            for (raw, code) in raws {
                for path in ["/api/auth/signup", "/api/auth/login"] {
                    let reply = try await api.request(.post, path, raw: raw)
                    #expect(reply.status == .badRequest, "\(raw.prefix(20)) → \(reply.text)")
                    #expect(reply.code == code, "\(raw.prefix(20)) → \(reply.text)")
                }
            }
            let empty = try await api.request(.post, "/api/auth/login", raw: "")
            #expect(empty.status == .badRequest)
            #expect(empty.code == "missing_email")
            let text = try await api.request(
                .post, "/api/auth/login", raw: "email=a", headers: [.contentType: "application/x-www-form-urlencoded"])
            #expect(text.status == .unsupportedMediaType)
            #expect(text.code == "unsupported_media_type")
        }
    }

    @Test func bodiesOverTheLimitAre413() async throws {
        try await withApp(.sqlite) { api in
            let huge = "{\"name\": \"" + String(repeating: "a", count: 9 * 1024 * 1024) + "\"}"
            let reply = try await api.request(.post, "/api/auth/signup", raw: huge)
            #expect(reply.status == .contentTooLarge)
            #expect(reply.code == "payload_too_large")
        }
    }

    @Test func unknownRoutesAndMethodsAnswerJSON() async throws {
        try await withApp(.sqlite) { api in
            let missing = try await api.request(.get, "/api/nope")
            #expect(missing.status == .notFound)
            #expect(missing.code == "not_found")
            let wrongMethod = try await api.request(.delete, "/api/auth/login")
            #expect(wrongMethod.status.code >= 400 && wrongMethod.status.code < 500)
            #expect(wrongMethod.code != nil)
        }
    }
}
