import ParleyChat
import ParleyDomain
import Testing

@testable import ParleyTesting

/// The contract every store's group messages meet (``GroupMessageRepository``), and the group
/// histories of stores that keep one for recovery (``EventLog``).
@Suite("Group message store contract")
struct GroupMessageContractTests {
    static let limits = GroupLimits(maxMembers: 100, maxGroupsPerUser: 10)

    /// A store with `count` users, the first the owner of a group of all of them.
    func withGroup(
        _ kind: StoreKind, users count: Int,
        _ body: @escaping @Sendable (any ChatStore, ObjectID, [ObjectID]) async throws -> Void
    ) async throws {
        try await withStore(kind) { store in
            var users: [ObjectID] = []
            for _ in 0..<count {
                let record = Fixture.user()
                try await store.insertUser(record)
                users.append(record.user.id)
            }
            let group = Group(id: ObjectID(), name: "Team", createdAt: .now(), updatedAt: .now())
            _ = try await store.createGroup(
                group, owner: users[0], members: Array(users.dropFirst()), limits: Self.limits)
            try await body(store, group.id, users)
        }
    }

    static func message(_ text: String, from sender: ObjectID, in group: ObjectID, at time: Timestamp = .now())
        -> GroupMessage
    {
        GroupMessage(
            id: ObjectID(), groupID: group, senderID: sender, text: text, image: nil, createdAt: time, updatedAt: time)
    }

    @Test(arguments: StoreKind.available)
    func onlyMembersPostAndRead(kind: StoreKind) async throws {
        try await withGroup(kind, users: 2) { store, group, users in
            let outsider = Fixture.user()
            try await store.insertUser(outsider)
            let stranger = outsider.user.id
            await #expect(throws: GroupChangeError.groupNotFound) {
                try await store.insertGroupMessage(Self.message("hi", from: stranger, in: group))
            }
            await #expect(throws: GroupChangeError.groupNotFound) {
                try await store.groupMessages(GroupMessageQuery(user: stranger, group: group))
            }
            await #expect(throws: GroupChangeError.groupNotFound) {
                try await store.insertGroupMessage(Self.message("hi", from: users[0], in: ObjectID()))
            }
            #expect(try await store.role(of: users[0], in: group) == .owner)
            #expect(try await store.role(of: users[1], in: group) == .member)
            #expect(try await store.role(of: stranger, in: group) == nil)
            // Removed: from that moment on, nothing.
            _ = try await store.changeMembership(
                of: group, .remove(users[1]), by: users[0], at: .now(), limits: Self.limits)
            await #expect(throws: GroupChangeError.groupNotFound) {
                try await store.groupMessages(GroupMessageQuery(user: users[1], group: group))
            }
            await #expect(throws: GroupChangeError.groupNotFound) {
                try await store.insertGroupMessage(Self.message("still here?", from: users[1], in: group))
            }
        }
    }

    @Test(arguments: StoreKind.available)
    func pagesEditsAndDeletions(kind: StoreKind) async throws {
        try await withGroup(kind, users: 3) { store, group, users in
            var sent: [GroupMessage] = []
            for index in 0..<6 {
                let message = Self.message("m\(index)", from: users[index % 3], in: group)
                try await store.insertGroupMessage(message)
                sent.append(message)
            }
            let me = users[1]
            #expect(try await store.groupMessages(GroupMessageQuery(user: me, group: group)) == sent)
            #expect(
                try await store.groupMessages(GroupMessageQuery(user: me, group: group, limit: 2)) == Array(sent[4...]))
            #expect(
                try await store.groupMessages(GroupMessageQuery(user: me, group: group, before: sent[3].id, limit: 2))
                    == Array(sent[1...2]))
            #expect(
                try await store.groupMessages(GroupMessageQuery(user: me, group: group, after: sent[3].id))
                    == Array(sent[4...]))
            #expect(
                try await store.groupMessages(
                    GroupMessageQuery(user: me, group: group, before: sent[4].id, after: sent[1].id))
                    == Array(sent[2...3]))
            await #expect(throws: StoreError.cursorNotFound) {
                try await store.groupMessages(GroupMessageQuery(user: me, group: group, before: ObjectID()))
            }
            let later = Timestamp(millisecondsSince1970: sent[5].createdAt.millisecondsSince1970 + 1000)
            let edited = try #require(try await store.editGroupMessage(id: sent[1].id, text: "edited", at: later))
            #expect(edited.text == "edited" && edited.editedAt == later && edited.groupID == group)
            let previous = try #require(try await store.deleteGroupMessage(id: sent[2].id, at: later))
            #expect(previous.text == "m2")
            #expect(try await store.deleteGroupMessage(id: sent[2].id, at: later) == nil)
            #expect(try await store.editGroupMessage(id: sent[2].id, text: "back", at: later) == nil)
            let tombstone = try #require(try await store.groupMessage(id: sent[2].id))
            #expect(tombstone.text == nil && tombstone.deletedAt == later)
            let changed = try await store.groupMessages(
                GroupMessageQuery(user: me, group: group, updatedAfter: sent[5].createdAt))
            #expect(Set(changed.map(\.id)) == [sent[1].id, sent[2].id])
            // Both changed at `later`: continuing after the first with a page of one gives the other.
            let first = try #require(
                try await store.groupMessages(
                    GroupMessageQuery(user: me, group: group, updatedAfter: sent[5].createdAt, limit: 1)
                ).first)
            let second = try await store.groupMessages(
                GroupMessageQuery(user: me, group: group, after: first.id, updatedAfter: later, limit: 1))
            #expect(second.map(\.id) == [first.id == sent[1].id ? sent[2].id : sent[1].id])
            let last = try #require(second.first)
            #expect(
                try await store.groupMessages(
                    GroupMessageQuery(user: me, group: group, after: last.id, updatedAfter: later, limit: 1)
                ).isEmpty)
            await #expect(throws: StoreError.cursorNotFound) {
                try await store.groupMessages(
                    GroupMessageQuery(user: me, group: group, after: ObjectID(), updatedAfter: later))
            }
        }
    }

    @Test(arguments: StoreKind.available)
    func readPositionsMoveForwardAndCountUnread(kind: StoreKind) async throws {
        try await withGroup(kind, users: 3) { store, group, users in
            let (ann, bob) = (users[0], users[1])
            var sent: [GroupMessage] = []
            for index in 0..<4 {
                let message = Self.message("m\(index)", from: index == 3 ? bob : ann, in: group)
                try await store.insertGroupMessage(message)
                sent.append(message)
            }
            var sidebar = try await store.groupSidebar(of: bob)
            #expect(sidebar.map(\.group.id) == [group])
            #expect(sidebar.first?.unreadCount == 3)
            #expect(sidebar.first?.lastMessage?.id == sent[3].id)
            #expect(try await store.markGroupRead(group, by: bob, upTo: sent[1].id, at: .now()))
            #expect(try await store.markGroupRead(group, by: bob, upTo: sent[0].id, at: .now()) == false)
            #expect(try await store.markGroupRead(group, by: bob, upTo: sent[1].id, at: .now()) == false)
            sidebar = try await store.groupSidebar(of: bob)
            #expect(sidebar.first?.unreadCount == 1)
            await #expect(throws: StoreError.cursorNotFound) {
                try await store.markGroupRead(group, by: bob, upTo: ObjectID(), at: .now())
            }
            let outsider = Fixture.user()
            try await store.insertUser(outsider)
            await #expect(throws: GroupChangeError.groupNotFound) {
                try await store.markGroupRead(group, by: outsider.user.id, upTo: sent[1].id, at: .now())
            }
            let positions = try await store.readPositions(in: group)
            #expect(positions.map(\.by) == [bob] && positions.map(\.upTo) == [sent[1].id])
            #expect(try await store.groupSidebar(of: outsider.user.id).isEmpty)
        }
    }

    /// Fifty members sending at once: every message is stored once, and the order the bus
    /// delivers them in is the order the history pages.
    @Test(arguments: StoreKind.available)
    func concurrentSendersKeepOneOrder(kind: StoreKind) async throws {
        try await withGroup(kind, users: 50) { store, group, users in
            let deliveries = try await heard(on: store.bus) {
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    for (index, user) in users.enumerated() {
                        tasks.addTask {
                            try await store.insertGroupMessage(Self.message("m\(index)", from: user, in: group))
                        }
                    }
                    try await tasks.waitForAll()
                }
            }
            let heard = deliveries.compactMap { delivery -> GroupMessage? in
                let event: ClusterEvent? =
                    switch delivery {
                    case .event(let event): event
                    case .stored(let stored): stored.event
                    case .resynchronized: nil
                    }
                guard case .groupMessageCreated(let message)? = event else { return nil }
                return message
            }
            let history = try await store.groupMessages(GroupMessageQuery(user: users[7], group: group, limit: 200))
            #expect(history.count == 50 && Set(history.map(\.id)).count == 50)
            #expect(heard.map(\.id) == history.map(\.id))
        }
    }

    /// A member's history has the group's events at their positions, in order with their own;
    /// a removed member hears of the removal in their own history and nothing of the group after.
    @Test(arguments: StoreKind.available)
    func membersHistoriesHaveTheGroupsEvents(kind: StoreKind) async throws {
        try await withGroup(kind, users: 3) { store, group, users in
            guard let log = store.eventLog else { return }
            let (ann, bob, cat) = (users[0], users[1], users[2])
            let start = try await log.latestPosition(of: bob)
            let first = Self.message("hello", from: ann, in: group)
            let deliveries = try await heard(on: store.bus) {
                try await store.insertGroupMessage(first)
                try await store.insertMessage(Fixture.message(from: cat, to: bob, text: "direct"))
                try await store.bus.publish(
                    .groupRead(GroupReadReceipt(groupID: group, by: bob, upTo: first.id, readAt: .now())))
                // The store announces the change itself.
                let outcome = try await store.changeMembership(
                    of: group, .remove(cat), by: ann, at: .now(), limits: Self.limits)
                #expect(outcome.removed == [cat])
                try await store.insertGroupMessage(Self.message("after", from: ann, in: group))
            }
            let stored = deliveries.compactMap { if case .stored(let event) = $0 { event } else { nil } }
            #expect(stored.count == 5)
            #expect(stored.map(\.position) == stored.map(\.position).sorted())
            let bobs = try #require(try await log.events(of: bob, after: start, limit: 100))
            #expect(bobs.map(\.position) == stored.map(\.position))
            #expect(try await log.latestPosition(of: bob) == stored[4].position)
            // Cat: the direct message, the removal; nothing of the group after it.
            let cats = try #require(try await log.events(of: cat, after: start, limit: 100))
            #expect(cats.map(\.position) == [stored[1].position, stored[3].position])
            let next = try await log.events(of: bob, after: stored[2].position, limit: 1)
            #expect(next?.map(\.position) == [stored[3].position])
            // Back in the group: the removal, kept under the group and under Cat, comes once.
            _ = try await store.changeMembership(of: group, .add([cat]), by: ann, at: .now(), limits: Self.limits)
            let again = try #require(try await log.events(of: cat, after: start, limit: 100)).map(\.position)
            #expect(again.count == Set(again).count && again.contains(stored[3].position))
        }
    }
}
