import Foundation
import HTTPTypes
import ParleyChat
import ParleyDomain
import Testing

@testable import ParleyTesting

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

    /// Sending a message reads its body by hand (it is the hottest path): the same answers as
    /// every other body.
    @Test(arguments: StoreKind.available)
    func sendMessageBodies(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let ann = try await api.signUp(name: "Ann")
            let bob = try await api.signUp(name: "Bob")
            let raws: [(String, String)] = [
                ("{", "invalid_json"),
                ("{\"to\": }", "invalid_json"),
                ("{\"to\": \"\(bob.id)\", \"text\": \"a\",}", "invalid_json"),
                // A broken string (an unpaired surrogate) is read as U+FFFD, which texts refuse: the
                // same answer as a Socket.IO send-message gets for it.
                ("{\"to\": \"\(bob.id)\", \"text\": \"\\ud800\"}", "invalid_text"),
                ("[1,2]", "invalid_body"),
                ("null", "invalid_body"),
                (String(repeating: "[", count: 10_000), "invalid_json"),
                ("{\"to\": 5, \"text\": \"a\"}", "invalid_to"),
                ("{\"to\": \"\(bob.id)\", \"text\": [\"a\"]}", "invalid_text"),
                ("{\"to\": \"\(bob.id)\", \"text\": \"a\", \"image\": {}}", "invalid_image"),
                ("{\"to\": \"not-an-id\", \"text\": \"a\"}", "invalid_id"),
                ("{\"to\": \"\(bob.id)\"}", "empty_message"),
                ("{\"to\": \"\(bob.id)\", \"text\": null}", "empty_message"),
                ("", "missing_to"),
            ]
            for (raw, code) in raws {
                let reply = try await api.request(.post, "/api/message", raw: raw, headers: ann.cookie)
                #expect(reply.status == .badRequest, "\(raw.prefix(40)) → \(reply.text)")
                #expect(reply.code == code, "\(raw.prefix(40)) → \(reply.text)")
            }
            // Unknown members and other whitespace are fine; escapes arrive decoded.
            let sent = try await api.request(
                .post, "/api/message",
                raw:
                    " {\"extra\": {\"deep\": [1, 2.5e3, true]}, \"to\" : \"\(bob.id)\", \"text\": \"caf\\u00e9 \\\"x\\\"\"}\n",
                headers: ann.cookie)
            #expect(sent.status == .created, "\(sent.text)")
            #expect(sent.object["text"] as? String == "café \"x\"")
        }
    }

    @Test func bodiesOverTheLimitAre413() async throws {
        try await withApp(.sqlite) { api in
            let huge = "{\"name\": \"" + String(repeating: "a", count: 9 * 1024 * 1024) + "\"}"
            let reply = try await api.request(.post, "/api/auth/signup", raw: huge)
            #expect(reply.status == .contentTooLarge)
            #expect(reply.code == "payload_too_large")
            // A login is an email and a password: one of 100 KiB is refused before it is parsed.
            let padded = "{\"email\": \"a@b.io\", \"password\": \"" + String(repeating: "p", count: 100 * 1024) + "\"}"
            let login = try await api.request(.post, "/api/auth/login", raw: padded)
            #expect(login.status == .contentTooLarge)
            #expect(login.code == "payload_too_large")
        }
    }

    @Test func unknownRoutesAndMethodsAnswerJSON() async throws {
        try await withApp(.sqlite) { api in
            let missing = try await api.request(.get, "/api/nope")
            #expect(missing.status == .notFound)
            #expect(missing.code == "not_found")
            // A known path with another method: 405 and what it allows (RFC 9110).
            let wrongMethod = try await api.request(.delete, "/api/auth/login")
            #expect(wrongMethod.status == .methodNotAllowed)
            #expect(wrongMethod.code == "method_not_allowed")
            #expect(wrongMethod.headers[.allow] == "POST, OPTIONS")
            // The route with the most literal segments decides, as in the router.
            let users = try await api.request(.patch, "/api/message/users")
            #expect(users.status == .methodNotAllowed)
            #expect(users.headers[.allow] == "GET, HEAD, OPTIONS")
            let message = try await api.request(.put, "/api/message/6b0610d42418feb384a4dcf4")
            #expect(message.headers[.allow] == "GET, HEAD, PATCH, DELETE, OPTIONS")
            // OPTIONS says the same without an error; HEAD is answered wherever GET is.
            let options = try await api.request(.options, "/api/auth/check")
            #expect(options.status == .noContent)
            #expect(options.headers[.allow] == "GET, HEAD, OPTIONS")
            #expect(try await api.request(.head, "/healthz").status == .ok)
            // Unknown paths stay 404 whatever the method.
            #expect(try await api.request(.delete, "/api/nope").status == .notFound)
        }
    }
}
