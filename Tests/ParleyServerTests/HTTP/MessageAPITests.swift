import Foundation
import HTTPTypes
import ParleyChat
import ParleyDomain
import Testing

@testable import ParleyTesting

@Suite("HTTP: /api/message")
struct MessageAPITests {
    @Test(arguments: StoreKind.available)
    func contactsListOtherUsersWithoutEmails(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let ann = try await api.signUp(name: "Ann")
            _ = try await api.signUp(name: "Zoe")
            _ = try await api.signUp(name: "Bob")
            let reply = try await api.request(.get, "/api/message/users", headers: ann.cookie)
            #expect(reply.status == .ok)
            #expect(reply.array.map { $0["name"] as? String } == ["Bob", "Zoe"])
            for contact in reply.array {
                #expect(Set(contact.keys) == ["_id", "name", "avatar", "online", "lastMessage", "unreadCount"])
                #expect(contact["online"] as? Bool == false)
            }
            #expect(!reply.text.contains("@example.com"))
        }
    }

    @Test(arguments: StoreKind.available)
    func sendsAndReadsAConversation(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let ann = try await api.signUp(name: "Ann")
            let bob = try await api.signUp(name: "Bob")
            let sent = try await api.request(
                .post, "/api/message", json: ["to": bob.id, "text": "Hi Bob"], headers: ann.cookie)
            #expect(sent.status == .created)
            let message = sent.object
            #expect(Set(message.keys) == ["_id", "senderId", "receiverId", "text", "createdAt", "updatedAt", "readAt"])
            #expect(message["senderId"] as? String == ann.id)
            #expect(message["receiverId"] as? String == bob.id)
            #expect(message["text"] as? String == "Hi Bob")

            let reply = try await api.request(
                .post, "/api/message", json: ["to": ann.id, "text": "Hi Ann"], headers: bob.bearer)
            #expect(reply.status == .created)

            let fromAnn = try await api.request(.get, "/api/message/\(bob.id)", headers: ann.cookie)
            let fromBob = try await api.request(.get, "/api/message/\(ann.id)", headers: bob.cookie)
            #expect(fromAnn.status == .ok)
            #expect(fromAnn.array.map { $0["text"] as? String } == ["Hi Bob", "Hi Ann"])
            #expect(fromAnn.text == fromBob.text)
        }
    }

    @Test(arguments: StoreKind.available)
    func aUserReadsOnlyTheirOwnConversations(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let ann = try await api.signUp(name: "Ann")
            let bob = try await api.signUp(name: "Bob")
            let eve = try await api.signUp(name: "Eve")
            let secret = try await api.request(
                .post, "/api/message", json: ["to": bob.id, "text": "secret"], headers: ann.cookie)
            let secretID = try #require(secret.object["_id"] as? String)
            // Eve can only ever see her conversation with Bob or Ann: empty.
            for peer in [ann.id, bob.id] {
                let reply = try await api.request(.get, "/api/message/\(peer)", headers: eve.cookie)
                #expect(reply.status == .ok)
                #expect(reply.array.isEmpty)
            }
            // Nor can she use Ann and Bob's message as a cursor into her own conversations.
            let cursor = try await api.request(.get, "/api/message/\(bob.id)?after=\(secretID)", headers: eve.cookie)
            #expect(cursor.status == .badRequest)
            #expect(cursor.code == "invalid_cursor")
            #expect(!cursor.text.contains("secret\""))
        }
    }

    @Test(arguments: StoreKind.available)
    func pagesWithBeforeAfterAndLimit(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let ann = try await api.signUp(name: "Ann")
            let bob = try await api.signUp(name: "Bob")
            var ids: [String] = []
            for index in 0..<60 {
                let reply = try await api.request(
                    .post, "/api/message", json: ["to": bob.id, "text": "m\(index)"], headers: ann.cookie)
                ids.append(try #require(reply.object["_id"] as? String))
            }
            func page(_ query: String) async throws -> [String] {
                let reply = try await api.request(.get, "/api/message/\(bob.id)\(query)", headers: ann.cookie)
                #expect(reply.status == .ok, "\(query): \(reply.text)")
                return reply.array.compactMap { $0["text"] as? String }
            }
            #expect(try await page("") == (10..<60).map { "m\($0)" }, "default: the newest 50, oldest first")
            #expect(try await page("?limit=5") == (55..<60).map { "m\($0)" })
            #expect(try await page("?before=\(ids[10])&limit=3") == ["m7", "m8", "m9"])
            #expect(try await page("?after=\(ids[10])&limit=3") == ["m11", "m12", "m13"])
            #expect(try await page("?after=\(ids[57])") == ["m58", "m59"])
            #expect(try await page("?after=\(ids[10])&before=\(ids[14])") == ["m11", "m12", "m13"])
            #expect(try await page("?limit=200").count == 60)
        }
    }

    @Test(arguments: StoreKind.available)
    func refusesBadMessagesAndQueries(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let ann = try await api.signUp(name: "Ann")
            let bob = try await api.signUp(name: "Bob")
            let cases: [(Any, HTTPResponse.Status, String)] = [
                (["text": "no receiver"], .badRequest, "missing_to"),
                (["to": "not-an-id", "text": "x"], .badRequest, "invalid_id"),
                (["to": ObjectID().hexString, "text": "x"], .notFound, "user_not_found"),
                (["to": bob.id], .badRequest, "empty_message"),
                (["to": bob.id, "text": "   "], .badRequest, "empty_message"),
                (["to": bob.id, "text": String(repeating: "a", count: 5001)], .badRequest, "invalid_text"),
                (["to": bob.id, "text": 42], .badRequest, "invalid_text"),
                (["to": ["$ne": nil] as [String: Any?], "text": "x"], .badRequest, "invalid_to"),
                (["to": bob.id, "image": "not a data uri"], .badRequest, "invalid_image"),
            ]
            for (body, status, code) in cases {
                let reply = try await api.request(.post, "/api/message", json: body, headers: ann.cookie)
                #expect(reply.status == status, "\(body): \(reply.text)")
                #expect(reply.code == code, "\(body): \(reply.text)")
            }
            let maxLength = try await api.request(
                .post, "/api/message", json: ["to": bob.id, "text": String(repeating: "a", count: 5000)],
                headers: ann.cookie)
            #expect(maxLength.status == .created)

            let queries: [(String, HTTPResponse.Status, String)] = [
                ("/api/message/nope", .badRequest, "invalid_id"),
                ("/api/message/\(ObjectID().hexString)", .notFound, "user_not_found"),
                ("/api/message/\(bob.id)?limit=0", .badRequest, "invalid_limit"),
                ("/api/message/\(bob.id)?limit=201", .badRequest, "invalid_limit"),
                ("/api/message/\(bob.id)?limit=ten", .badRequest, "invalid_limit"),
                ("/api/message/\(bob.id)?before=xyz", .badRequest, "invalid_id"),
                ("/api/message/\(bob.id)?after=\(ObjectID().hexString)", .badRequest, "invalid_cursor"),
            ]
            for (uri, status, code) in queries {
                let reply = try await api.request(.get, uri, headers: ann.cookie)
                #expect(reply.status == status, "\(uri): \(reply.text)")
                #expect(reply.code == code, "\(uri): \(reply.text)")
            }
            for uri in ["/api/message/users", "/api/message/\(bob.id)"] {
                #expect(try await api.request(.get, uri).status == .unauthorized)
            }
            #expect(
                try await api.request(.post, "/api/message", json: ["to": bob.id, "text": "x"]).status == .unauthorized)
        }
    }
}
