import Foundation
import HTTPTypes
import ParleyChat
import ParleyDomain
import Testing

@testable import ParleyTesting

@Suite("HTTP: the sidebar and catching up on changes")
struct SidebarAndCatchUpTests {
    @discardableResult
    private func send(_ api: TestAPI, from: TestAPI.Session, to: TestAPI.Session, _ body: [String: Any]) async throws
        -> [String: Any]
    {
        var body = body
        body["to"] = to.id
        let sent = try await api.request(.post, "/api/message", json: body, headers: from.cookie)
        try #require(sent.status == .created, "\(sent.text)")
        return sent.object
    }

    private func sidebar(_ api: TestAPI, _ user: TestAPI.Session, query: String = "") async throws -> TestAPI.Reply {
        try await api.request(.get, "/api/message/users\(query)", headers: user.cookie)
    }

    @Test(
        "conversations come first, newest first, with their last message and unread count",
        arguments: StoreKind.available)
    func sidebarOrder(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let ann = try await api.signUp(name: "Ann")
            let bob = try await api.signUp(name: "Bob")
            let cat = try await api.signUp(name: "Cat")
            let dan = try await api.signUp(name: "Dan")
            let zed = try await api.signUp(name: "Zed")
            let eve = try await api.signUp(name: "Eve")
            let b1 = try await send(api, from: bob, to: ann, ["text": "b1"])
            let c1 = try await send(api, from: cat, to: ann, ["text": "c1"])
            try await send(api, from: cat, to: ann, ["text": "c2"])
            let a1 = try await send(api, from: ann, to: bob, ["text": "a1"])
            let d1 = try await send(api, from: dan, to: ann, ["image": TestImages.dataURI(TestImages.gif)])

            var entries = try await sidebar(api, ann).array
            #expect(entries.map { $0["name"] as? String } == ["Dan", "Bob", "Cat", "Eve", "Zed"])
            for entry in entries {
                #expect(Set(entry.keys) == ["_id", "name", "avatar", "online", "lastMessage", "unreadCount"])
            }
            #expect(entries.map { $0["unreadCount"] as? Int } == [1, 1, 2, 0, 0])
            let dans = try #require(entries[0]["lastMessage"] as? [String: Any])
            #expect(dans["_id"] as? String == d1["_id"] as? String)
            #expect(dans["hasImage"] as? Bool == true && dans["text"] == nil && dans["senderId"] as? String == dan.id)
            #expect(dans["createdAt"] as? String == d1["createdAt"] as? String)
            let bobs = try #require(entries[1]["lastMessage"] as? [String: Any])
            #expect(bobs["text"] as? String == "a1" && bobs["senderId"] as? String == ann.id)
            #expect(bobs["deleted"] as? Bool == false)
            #expect(entries[3]["lastMessage"] is NSNull)

            // Bob's view of the same conversation: Ann's a1 is unread for him, his b1 is not.
            let bobsView = try await sidebar(api, bob).array
            #expect(bobsView.first?["name"] as? String == "Ann")
            #expect(bobsView.first?["unreadCount"] as? Int == 1)

            // Reading, editing and deleting show up.
            try await api.request(
                .post, "/api/message/\(cat.id)/read", json: ["upTo": c1["_id"]!], headers: ann.cookie)
            try await api.request(.post, "/api/message/\(bob.id)/read", json: ["upTo": a1["_id"]!], headers: ann.cookie)
            try await api.request(.delete, "/api/message/\(a1["_id"]!)", headers: ann.cookie)
            entries = try await sidebar(api, ann).array
            #expect(entries.map { $0["unreadCount"] as? Int } == [1, 0, 1, 0, 0])
            let deleted = try #require(entries[1]["lastMessage"] as? [String: Any])
            #expect(deleted["deleted"] as? Bool == true && deleted["text"] == nil)
            _ = b1

            // A new message moves its conversation to the top.
            try await send(api, from: zed, to: ann, ["text": "z1"])
            entries = try await sidebar(api, ann).array
            #expect(entries.map { $0["name"] as? String } == ["Zed", "Dan", "Bob", "Cat", "Eve"])
            _ = eve
        }
    }

    @Test("the sidebar pages with a cursor", arguments: StoreKind.available)
    func sidebarPaging(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let ann = try await api.signUp(name: "Ann")
            var others: [TestAPI.Session] = []
            for name in ["Bob", "Cat", "Dan", "Eve", "Fay"] { others.append(try await api.signUp(name: name)) }
            for other in others.prefix(3) { try await send(api, from: other, to: ann, ["text": "hi"]) }
            let everything = try await sidebar(api, ann)
            #expect(everything.headers[SidebarHeader.next] == nil)
            let all = everything.array.map { $0["_id"] as? String }
            #expect(all.count == 5)

            var paged: [String?] = []
            var query = "?limit=2"
            var pages = 0
            while true {
                let page = try await sidebar(api, ann, query: query)
                #expect(page.status == .ok)
                paged += page.array.map { $0["_id"] as? String }
                pages += 1
                guard let next = page.headers[SidebarHeader.next] else { break }
                query = "?limit=2&cursor=\(next)"
                try #require(pages < 10)
            }
            #expect(paged == all)
            #expect(pages == 3)

            #expect(try await sidebar(api, ann, query: "?limit=0").code == "invalid_limit")
            #expect(try await sidebar(api, ann, query: "?limit=x").code == "invalid_limit")
            #expect(try await sidebar(api, ann, query: "?cursor=bm9wZQ").code == "invalid_cursor")
            #expect(try await sidebar(api, ann, query: "?cursor=%%%").status == .badRequest)
            // An empty cursor is the first page, as none is.
            let first = try await sidebar(api, ann, query: "?limit=2&cursor=")
            #expect(first.status == .ok)
            #expect(first.array.map { $0["_id"] as? String } == Array(all.prefix(2)))
        }
    }

    /// One read receipt changes every message it covers at the same millisecond: all of them
    /// came with a page, however many (9,000 made a 47 MB answer to a one-message page).
    @Test("updatedAfter adds a bounded number changed at the last one's millisecond", arguments: StoreKind.available)
    func sameTimeChangesAreBounded(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let ann = try await api.signUp(name: "Ann")
            let bob = try await api.signUp(name: "Bob")
            let count = ConversationQuery.maximumSameTimeChanges + 5
            var last: [String: Any] = [:]
            for index in 0..<count { last = try await send(api, from: bob, to: ann, ["text": "m\(index)"]) }
            let since = try #require(last["updatedAt"] as? String)
            // The receipt lands at least a millisecond after the last send.
            try await Task.sleep(for: .milliseconds(3))
            let read = try await api.request(
                .post, "/api/message/\(bob.id)/read", json: ["upTo": last["_id"]!], headers: ann.cookie)
            #expect(read.status == .ok)
            let page = try await api.request(
                .get, "/api/message/\(bob.id)?updatedAfter=\(since)&limit=2", headers: ann.cookie)
            #expect(page.status == .ok)
            #expect(page.array.count == 2 + ConversationQuery.maximumSameTimeChanges)
            #expect(Set(page.array.compactMap { $0["updatedAt"] as? String }).count == 1)

            // Another conversation changed meanwhile: none of it belongs in these pages.
            let cat = try await api.signUp(name: "Cat")
            _ = try await send(api, from: cat, to: bob, ["text": "elsewhere"])
            // With the last message it holds as an `after` cursor, a client gets pages of at most
            // `limit` and skips none.
            var seen: [String] = []
            var cursor = "updatedAfter=\(since)&after=\(last["_id"]!)"
            for _ in 0..<(count / 200 + 2) {
                let next = try await api.request(
                    .get, "/api/message/\(bob.id)?\(cursor)&limit=200", headers: ann.cookie)
                #expect(next.status == .ok)
                let messages = next.array
                #expect(messages.count <= 200)
                guard let last = messages.last, let at = last["updatedAt"] as? String, let id = last["_id"] as? String
                else { break }
                seen += messages.compactMap { $0["_id"] as? String }
                cursor = "updatedAfter=\(at)&after=\(id)"
            }
            #expect(seen.count == count && Set(seen).count == count, "every message once, and nothing else")
            let unknown = try await api.request(
                .get, "/api/message/\(bob.id)?updatedAfter=\(since)&after=\(ObjectID().hexString)", headers: ann.cookie)
            #expect(unknown.code == "invalid_cursor")
        }
    }

    @Test("updatedAfter returns what changed since, in order of change", arguments: StoreKind.available)
    func catchUp(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let ann = try await api.signUp(name: "Ann")
            let bob = try await api.signUp(name: "Bob")
            let m1 = try await send(api, from: ann, to: bob, ["text": "one"])
            let m2 = try await send(api, from: ann, to: bob, ["text": "two"])
            let m3 = try await send(api, from: bob, to: ann, ["text": "three"])
            let since = try #require(m3["updatedAt"] as? String)
            let path = "/api/message/\(ann.id)?updatedAfter=\(since)"
            #expect(try await api.request(.get, path, headers: bob.cookie).array.isEmpty)

            // Changes land at least a millisecond after the last send.
            try await Task.sleep(for: .milliseconds(3))
            try await api.request(.delete, "/api/message/\(m2["_id"]!)", headers: ann.cookie)
            try await api.request(.patch, "/api/message/\(m1["_id"]!)", json: ["text": "uno"], headers: ann.cookie)
            try await api.request(.post, "/api/message/\(bob.id)/read", json: ["upTo": m3["_id"]!], headers: ann.cookie)
            let changed = try await api.request(.get, path, headers: bob.cookie).array
            #expect(changed.map { $0["_id"] as? String } == [m2["_id"], m1["_id"], m3["_id"]].map { $0 as? String })
            try #require(changed.count == 3)
            #expect(changed[0]["deletedAt"] is String && changed[1]["text"] as? String == "uno")
            #expect(changed[2]["readAt"] is String)

            let limited = try await api.request(.get, path + "&limit=1", headers: bob.cookie).array
            #expect(limited.first?["_id"] as? String == m2["_id"] as? String)

            #expect(
                try await api.request(.get, "/api/message/\(ann.id)?updatedAfter=yesterday", headers: bob.cookie).code
                    == "invalid_updatedAfter")
            #expect(
                try await api.request(
                    .get, "/api/message/\(ann.id)?updatedAfter=\(since)&before=\(m1["_id"]!)", headers: bob.cookie
                ).code == "invalid_updatedAfter")
        }
    }
}

enum SidebarHeader {
    static let next = HTTPField.Name("X-Next-Cursor")!
}
