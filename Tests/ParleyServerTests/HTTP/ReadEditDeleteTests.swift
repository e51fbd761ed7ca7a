import Foundation
import HTTPTypes
import ParleyChat
import ParleyDomain
import ParleyServer
import Testing

@testable import ParleyTesting

@Suite("HTTP: read receipts, edits and deletions")
struct ReadEditDeleteTests {
    /// Sends `texts` alternately from `a` and `b` (a first); returns the messages' ids.
    private func converse(_ api: TestAPI, _ a: TestAPI.Session, _ b: TestAPI.Session, _ texts: [String]) async throws
        -> [String]
    {
        var ids: [String] = []
        for (index, text) in texts.enumerated() {
            let (from, to) = index % 2 == 0 ? (a, b) : (b, a)
            let sent = try await api.request(
                .post, "/api/message", json: ["to": to.id, "text": text], headers: from.cookie)
            try #require(sent.status == .created, "\(sent.text)")
            ids.append(try #require(sent.object["_id"] as? String))
        }
        return ids
    }

    private func page(_ api: TestAPI, _ user: TestAPI.Session, with peer: TestAPI.Session) async throws
        -> [[String: Any]]
    {
        try await api.request(.get, "/api/message/\(peer.id)", headers: user.cookie).array
    }

    @Test(
        "marking read marks only the peer's messages up to the id, and never un-reads", arguments: StoreKind.available)
    func markRead(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let ann = try await api.signUp(name: "Ann")
            let bob = try await api.signUp(name: "Bob")
            // ann, bob, ann, bob, ann
            let ids = try await converse(api, ann, bob, ["a1", "b1", "a2", "b2", "a3"])
            let fresh = try await page(api, bob, with: ann)
            #expect(fresh.allSatisfy { $0.keys.contains("readAt") && $0["readAt"] is NSNull })

            // Bob reads up to a2: a1 and a2 are read; his own b1 is not touched; a3 stays unread.
            let reply = try await api.request(
                .post, "/api/message/\(ann.id)/read", json: ["upTo": ids[2]], headers: bob.cookie)
            #expect(reply.status == .ok)
            #expect(reply.object["marked"] as? Int == 2)
            #expect(reply.object["with"] as? String == ann.id)
            let readAt = try #require(reply.object["readAt"] as? String)
            var now = try await page(api, bob, with: ann)
            #expect(now.map { $0["readAt"] as? String } == [readAt, nil, readAt, nil, nil])

            // Again, or with an earlier message: nothing changes.
            let again = try await api.request(
                .post, "/api/message/\(ann.id)/read", json: ["upTo": ids[0]], headers: bob.cookie)
            #expect(again.status == .ok)
            #expect(again.object["marked"] as? Int == 0)
            now = try await page(api, ann, with: bob)
            #expect(now.map { $0["readAt"] as? String } == [readAt, nil, readAt, nil, nil])

            // Ann marking Bob's messages read does not touch hers.
            let annReads = try await api.request(
                .post, "/api/message/\(bob.id)/read", json: ["upTo": ids[4]], headers: ann.cookie)
            #expect(annReads.object["marked"] as? Int == 2)
            now = try await page(api, ann, with: bob)
            #expect(now[4]["readAt"] is NSNull)
            #expect(now[1]["readAt"] is String && now[3]["readAt"] is String)
        }
    }

    @Test("marking read refuses bad input", arguments: StoreKind.available)
    func markReadErrors(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let ann = try await api.signUp(name: "Ann")
            let bob = try await api.signUp(name: "Bob")
            let eve = try await api.signUp(name: "Eve")
            let ids = try await converse(api, ann, bob, ["a1"])
            let path = "/api/message/\(ann.id)/read"
            #expect(try await api.request(.post, path, json: ["upTo": ids[0]]).status == .unauthorized)
            #expect(try await api.request(.post, path, json: [:], headers: bob.cookie).code == "missing_upTo")
            #expect(
                try await api.request(.post, path, json: ["upTo": "nope"], headers: bob.cookie).code == "invalid_id")
            #expect(
                try await api.request(.post, path, json: ["upTo": ObjectID().hexString], headers: bob.cookie).code
                    == "message_not_found")
            // Eve cannot use a message of someone else's conversation.
            let eves = try await api.request(.post, path, json: ["upTo": ids[0]], headers: eve.cookie)
            #expect(eves.status == .notFound)
            #expect(try await page(api, bob, with: ann)[0]["readAt"] is NSNull)
            #expect(
                try await api.request(.post, "/api/message/nope/read", json: ["upTo": ids[0]], headers: bob.cookie)
                    .code == "invalid_id")
        }
    }

    @Test("the sender edits within the window; nobody else can", arguments: StoreKind.available)
    func edit(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let ann = try await api.signUp(name: "Ann")
            let bob = try await api.signUp(name: "Bob")
            let ids = try await converse(api, ann, bob, ["helo", "hi"])
            let edited = try await api.request(
                .patch, "/api/message/\(ids[0])", json: ["text": "hello"], headers: ann.cookie)
            #expect(edited.status == .ok)
            #expect(edited.object["text"] as? String == "hello")
            let editedAt = try #require(edited.object["editedAt"] as? String)
            #expect(edited.object["updatedAt"] as? String == editedAt)
            #expect(try await page(api, bob, with: ann)[0]["text"] as? String == "hello")
            #expect(try await page(api, bob, with: ann)[1]["editedAt"] == nil)

            let bobs = try await api.request(.patch, "/api/message/\(ids[0])", json: ["text": "x"], headers: bob.cookie)
            #expect(bobs.status == .forbidden)
            #expect(bobs.code == "not_your_message")
            #expect(
                try await api.request(
                    .patch, "/api/message/\(ObjectID().hexString)", json: ["text": "x"], headers: ann.cookie
                )
                .status == .notFound)
            #expect(
                try await api.request(.patch, "/api/message/\(ids[0])", json: ["text": "  "], headers: ann.cookie).code
                    == "empty_message")
            #expect(
                try await api.request(
                    .patch, "/api/message/\(ids[0])", json: ["text": String(repeating: "x", count: 5001)],
                    headers: ann.cookie
                ).code == "invalid_text")
            #expect(
                try await api.request(.patch, "/api/message/\(ids[0])", json: ["text": "x"]).status == .unauthorized)
        }
    }

    @Test func editingAfterTheWindowIsRefused() async throws {
        try await withApp(.sqlite, configuration: ["MESSAGE_EDIT_WINDOW_SECONDS": "0"]) { api in
            let ann = try await api.signUp(name: "Ann")
            let bob = try await api.signUp(name: "Bob")
            let ids = try await converse(api, ann, bob, ["sent"])
            let late = try await api.request(.patch, "/api/message/\(ids[0])", json: ["text": "x"], headers: ann.cookie)
            #expect(late.status == .forbidden)
            #expect(late.code == "edit_window_closed")
        }
    }

    @Test("deleting leaves a tombstone, removes the image, and is harmless twice", arguments: StoreKind.available)
    func delete(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let ann = try await api.signUp(name: "Ann")
            let bob = try await api.signUp(name: "Bob")
            let sent = try await api.request(
                .post, "/api/message",
                json: ["to": bob.id, "text": "look", "image": TestImages.dataURI(TestImages.gif)],
                headers: ann.cookie)
            let id = try #require(sent.object["_id"] as? String)
            let image = try #require(sent.object["image"] as? String)
            #expect(try await api.request(.get, image).status == .ok)

            #expect(try await api.request(.delete, "/api/message/\(id)", headers: bob.cookie).status == .forbidden)
            let deleted = try await api.request(.delete, "/api/message/\(id)", headers: ann.cookie)
            #expect(deleted.status == .ok)
            let deletedAt = try #require(deleted.object["deletedAt"] as? String)
            #expect(deleted.object["text"] == nil && deleted.object["image"] == nil)
            #expect(try await api.request(.get, image).status == .notFound)

            let seen = try await page(api, bob, with: ann)
            #expect(seen.count == 1)
            #expect(seen[0]["_id"] as? String == id && seen[0]["deletedAt"] as? String == deletedAt)
            #expect(seen[0]["text"] == nil)

            let twice = try await api.request(.delete, "/api/message/\(id)", headers: ann.cookie)
            #expect(twice.status == .ok)
            #expect(twice.object["deletedAt"] as? String == deletedAt)
            let editDeleted = try await api.request(
                .patch, "/api/message/\(id)", json: ["text": "x"], headers: ann.cookie)
            #expect(editDeleted.status == .conflict)
            #expect(editDeleted.code == "message_deleted")
            #expect(
                try await api.request(.delete, "/api/message/\(ObjectID().hexString)", headers: ann.cookie).status
                    == .notFound)
            #expect(try await api.request(.delete, "/api/message/x", headers: ann.cookie).code == "invalid_id")
        }
    }

    @Test("changes are announced on the cluster bus", arguments: StoreKind.available)
    func changesAreAnnounced(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let ann = try await api.signUp(name: "Ann")
            let bob = try await api.signUp(name: "Bob")
            let ids = try await converse(api, ann, bob, ["one"])
            let events = api.components.store.bus.subscribe()
            try await api.request(.patch, "/api/message/\(ids[0])", json: ["text": "uno"], headers: ann.cookie)
            try await api.request(.post, "/api/message/\(ann.id)/read", json: ["upTo": ids[0]], headers: bob.cookie)
            try await api.request(.delete, "/api/message/\(ids[0])", headers: ann.cookie)
            var seen: [String] = []
            for await delivery in events {
                guard let event = delivery.event else { continue }
                switch event {
                case .messageUpdated(let message): seen.append("updated \(message.text ?? "")")
                case .messagesRead(let receipt):
                    seen.append(
                        "read by \(receipt.by == ObjectID(bob.id)! ? "bob" : "?") up to \(receipt.upTo.hexString == ids[0])"
                    )
                case .messageDeleted(let message): seen.append("deleted \(message.deletedAt != nil)")
                default: continue
                }
                if seen.count == 3 { break }
            }
            #expect(seen == ["updated uno", "read by bob up to true", "deleted true"])
        }
    }
}
