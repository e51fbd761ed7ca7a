import Foundation
import HTTPTypes
import ParleyChat
import ParleyDomain
import Testing

@testable import ParleyTesting

/// Ending sessions (logout, log out everywhere) and the account itself (deletion, export), through
/// the API, on every store.
@Suite("HTTP: sessions and the account")
struct SessionsAndAccountTests {
    func logIn(_ api: TestAPI, _ session: TestAPI.Session) async throws -> TestAPI.Session {
        let reply = try await api.request(
            .post, "/api/auth/login", json: ["email": session.email, "password": "secret1"])
        try #require(reply.status == .ok, "\(reply.text)")
        return TestAPI.Session(id: session.id, email: session.email, token: try TestAPI.token(from: reply))
    }

    /// Logout used to clear the cookie only: the token went on working for the rest of its days.
    @Test(arguments: StoreKind.available)
    func aLoggedOutTokenIsRefusedEverywhereAtOnce(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let ann = try await api.signUp(name: "Ann")
            let bob = try await api.signUp(name: "Bob")
            // The token is in the session cache.
            #expect(try await api.request(.get, "/api/auth/check", headers: ann.bearer).status == .ok)
            let other = try await logIn(api, ann)

            let out = try await api.request(.post, "/api/auth/logout", headers: ann.bearer)
            #expect(out.status == .ok)
            #expect(out.object["message"] as? String == "Logged out successfully")
            #expect(out.setCookie?.contains("Max-Age=0") == true)
            for headers in [ann.bearer, ann.cookie] {
                #expect(try await api.request(.get, "/api/auth/check", headers: headers).status == .unauthorized)
                let send = try await api.request(
                    .post, "/api/message", json: ["to": bob.id, "text": "hi"], headers: headers)
                #expect(send.status == .unauthorized)
            }
            // Nor does the same signature spelt another way (a base64 `=`): it is not another token.
            let respelt: HTTPFields = [.authorization: "Bearer \(ann.token)="]
            #expect(try await api.request(.get, "/api/auth/check", headers: respelt).status == .unauthorized)
            // Another session of the same user goes on.
            #expect(try await api.request(.get, "/api/auth/check", headers: other.bearer).status == .ok)
            // Logging out again, or without a token, is fine.
            #expect(try await api.request(.post, "/api/auth/logout", headers: ann.bearer).status == .ok)
            #expect(try await api.request(.post, "/api/auth/logout").status == .ok)
        }
    }

    @Test(arguments: StoreKind.available)
    func loggingOutEverywhereEndsEverySessionButNotTheNextLogin(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let first = try await api.signUp(name: "Ann")
            let second = try await logIn(api, first)
            #expect(try await api.request(.get, "/api/auth/check", headers: second.bearer).status == .ok)

            let out = try await api.request(.post, "/api/auth/logout-all", headers: first.bearer)
            #expect(out.status == .ok)
            #expect(out.object["message"] as? String == "Logged out everywhere")
            for session in [first, second] {
                #expect(try await api.request(.get, "/api/auth/check", headers: session.bearer).status == .unauthorized)
            }
            // A login in the same second is not born revoked.
            let again = try await logIn(api, first)
            #expect(try await api.request(.get, "/api/auth/check", headers: again.bearer).status == .ok)
            #expect(try await api.request(.post, "/api/auth/logout-all").status == .unauthorized)
        }
    }

    @Test(arguments: StoreKind.available)
    func aDeletedAccountIsGoneButItsMessagesStayWithTheOtherSide(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let ann = try await api.signUp(name: "Ann", avatar: TestImages.dataURI(TestImages.png))
            let bob = try await api.signUp(name: "Bob")
            let sent = try await api.request(
                .post, "/api/message", json: ["to": bob.id, "text": "from Ann"], headers: ann.cookie)
            #expect(sent.status == .created)
            _ = try await api.request(
                .post, "/api/message", json: ["to": ann.id, "text": "to Ann"], headers: bob.cookie)

            let wrong = try await api.request(
                .delete, "/api/auth/account", json: ["password": "nope!!"], headers: ann.cookie)
            #expect(wrong.status == .forbidden)
            #expect(wrong.code == "wrong_password")
            let missing = try await api.request(.delete, "/api/auth/account", json: [:], headers: ann.cookie)
            #expect(missing.code == "missing_password")

            let deleted = try await api.request(
                .delete, "/api/auth/account", json: ["password": "secret1"], headers: ann.cookie)
            #expect(deleted.status == .ok)
            #expect(deleted.object["message"] as? String == "Account deleted")
            #expect(try await api.request(.get, "/api/auth/check", headers: ann.cookie).status == .unauthorized)
            let login = try await api.request(
                .post, "/api/auth/login", json: ["email": ann.email, "password": "secret1"])
            #expect(login.code == "invalid_credentials")
            // The avatar file is gone.
            #expect(try FileManager.default.contentsOfDirectory(atPath: api.dataDirectory + "/uploads").isEmpty)

            // Bob keeps the conversation, from a user with no name and no avatar.
            let contacts = try await api.request(.get, "/api/message/users", headers: bob.cookie).array
            let entry = try #require(contacts.first { $0["_id"] as? String == ann.id })
            #expect(entry["name"] as? String == "")
            #expect(entry["avatar"] as? String == "")
            #expect(entry["deleted"] as? Bool == true)
            #expect(entry["email"] == nil)
            let conversation = try await api.request(.get, "/api/message/\(ann.id)", headers: bob.cookie).array
            #expect(conversation.map { $0["text"] as? String } == ["from Ann", "to Ann"])
            #expect(conversation.first?["senderId"] as? String == ann.id)

            // The email is free again; the new account is someone else.
            let reused = try await api.signUp(name: "Ann again", email: ann.email)
            #expect(reused.id != ann.id)
            // Nobody else's list shows the deleted account outside a conversation.
            let carol = try await api.signUp(name: "Carol")
            let carolsContacts = try await api.request(.get, "/api/message/users", headers: carol.cookie).array
            #expect(!carolsContacts.contains { $0["_id"] as? String == ann.id })
        }
    }

    @Test(arguments: StoreKind.available)
    func theExportHoldsTheProfileAndEveryConversation(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let ann = try await api.signUp(name: "Ann")
            let bob = try await api.signUp(name: "Bob")
            let carol = try await api.signUp(name: "Carol")
            for index in 0..<250 {
                _ = try await api.request(
                    .post, "/api/message", json: ["to": bob.id, "text": "to Bob \(index)"], headers: ann.cookie)
            }
            _ = try await api.request(
                .post, "/api/message", json: ["to": ann.id, "text": "from Carol"], headers: carol.cookie)

            let reply = try await api.request(.get, "/api/auth/export", headers: ann.cookie)
            #expect(reply.status == .ok)
            #expect(reply.headers[.contentDisposition]?.hasPrefix("attachment") == true)
            let export = reply.object
            let user = try #require(export["user"] as? [String: Any])
            #expect(user["email"] as? String == ann.email)
            #expect(user["password"] == nil)
            let conversations = try #require(export["conversations"] as? [[String: Any]])
            let byPeer = Dictionary(
                uniqueKeysWithValues: conversations.map {
                    (($0["with"] as? [String: Any])?["_id"] as? String ?? "", $0["messages"] as? [[String: Any]] ?? [])
                })
            #expect(Set(byPeer.keys) == [bob.id, carol.id])
            let toBob = try #require(byPeer[bob.id])
            #expect(toBob.count == 250)
            #expect(toBob.first?["text"] as? String == "to Bob 249")
            #expect(toBob.last?["text"] as? String == "to Bob 0")
            #expect(byPeer[carol.id]?.first?["text"] as? String == "from Carol")
            #expect(try await api.request(.get, "/api/auth/export").status == .unauthorized)
        }
    }
}
