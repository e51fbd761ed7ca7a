import Foundation
import ParleyDomain
import Synchronization
import Testing

@testable import ParleyChat
@testable import ParleyTesting

@Suite("Account export")
struct AccountExporterTests {
    /// 120 conversations (two sidebar pages) of 450 messages (three pages each), then people never
    /// talked to.
    static func store(for owner: User) -> PagedMessages {
        PagedMessages(owner: owner.id, conversations: 120, messagesEach: 450, strangers: 5)
    }

    @Test func writesEveryConversationAndMessageNewestFirst() async throws {
        let owner = Fixture.user().user
        let store = Self.store(for: owner)
        var document: [UInt8] = []
        for try await piece in AccountExporter(messages: store).export(owner) { document += piece }
        let json = try #require(try JSONSerialization.jsonObject(with: Data(document)) as? [String: Any])
        #expect((json["user"] as? [String: Any])?["_id"] as? String == owner.id.hexString)
        let conversations = try #require(json["conversations"] as? [[String: Any]])
        #expect(conversations.count == 120)
        for (conversation, peer) in zip(conversations, store.peers) {
            #expect((conversation["with"] as? [String: Any])?["_id"] as? String == peer.id.hexString)
            let ids = (conversation["messages"] as? [[String: Any]] ?? []).compactMap { $0["_id"] as? String }
            #expect(ids == store.history(with: peer.id).reversed().map(\.id.hexString))
        }
    }

    /// A client that reads slowly must not make the server hold the history it has not read: each
    /// piece is read from the store when the response asks for it.
    @Test func readsTheStoreOnlyAsThePiecesAreTaken() async throws {
        let owner = Fixture.user().user
        let store = Self.store(for: owner)
        var pieces = AccountExporter(messages: store).export(owner).makeAsyncIterator()
        #expect(store.calls == 0)
        var taken = 0
        while try await pieces.next() != nil {
            taken += 1
            // A piece is one page of messages, after at most one page of the sidebar.
            #expect(store.calls <= taken + 1)
            if taken == 3 { break }
        }
        #expect(store.calls == 4)
    }
}

/// A message store with `conversations` conversations of `messagesEach` messages each, paged as
/// the stores page them, counting the calls made to it.
final class PagedMessages: MessageRepository {
    let owner: ObjectID
    let peers: [User]
    let strangers: [User]
    private let histories: [ObjectID: [Message]]
    private let callCount = Atomic(0)

    var calls: Int { callCount.load(ordering: .relaxed) }

    init(owner: ObjectID, conversations: Int, messagesEach: Int, strangers: Int) {
        self.owner = owner
        peers = (0..<conversations).map { Fixture.user(name: "peer \($0)").user }
        self.strangers = (0..<strangers).map { Fixture.user(name: "stranger \($0)").user }
        var histories: [ObjectID: [Message]] = [:]
        for peer in peers {
            histories[peer.id] = (0..<messagesEach).map {
                $0.isMultiple(of: 2)
                    ? Fixture.message(from: owner, to: peer.id, text: "\($0)")
                    : Fixture.message(from: peer.id, to: owner, text: "\($0)")
            }
        }
        self.histories = histories
    }

    /// Oldest first.
    func history(with peer: ObjectID) -> [Message] { histories[peer] ?? [] }

    func conversation(_ query: ConversationQuery) async throws -> [Message] {
        callCount.add(1, ordering: .relaxed)
        #expect(query.user == owner)
        var history = history(with: query.peer)[...]
        if let before = query.before, let index = history.firstIndex(where: { $0.id == before }) {
            history = history[..<index]
        }
        return Array(history.suffix(query.limit))
    }

    func sidebar(of user: ObjectID, after position: SidebarPosition?, limit: Int?) async throws -> [SidebarEntry] {
        callCount.add(1, ordering: .relaxed)
        let entries =
            peers.enumerated().map { index, peer in
                SidebarEntry(
                    user: peer,
                    lastMessage: LastMessage(
                        id: ObjectID(), senderID: peer.id, text: "last", hasImage: false, deleted: false,
                        createdAt: .now()),
                    unreadCount: 0, position: .conversation(lastSequence: Int64(peers.count - index)))
            }
            + strangers.map {
                SidebarEntry(user: $0, lastMessage: nil, unreadCount: 0, position: .user(name: $0.name, id: $0.id))
            }
        var start = 0
        if let position, let index = entries.firstIndex(where: { $0.position == position }) { start = index + 1 }
        return Array(entries[start...].prefix(limit ?? entries.count))
    }

    func insertMessage(_ message: Message) async throws { Issue.record("not expected") }
    func message(id: ObjectID) async throws -> Message? { nil }
    func markRead(by reader: ObjectID, from sender: ObjectID, upTo: ObjectID, at time: Timestamp) async throws -> Int {
        0
    }
    func editMessage(id: ObjectID, text: String, at time: Timestamp) async throws -> Message? { nil }
    func deleteMessage(id: ObjectID, at time: Timestamp) async throws -> Message? { nil }
}
