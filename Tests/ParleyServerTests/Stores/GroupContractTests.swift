import ParleyChat
import ParleyDomain
import Testing

@testable import ParleyTesting

/// The contract every store's groups meet (``GroupRepository``).
@Suite("Group store contract")
struct GroupContractTests {
    static let limits = GroupLimits(maxMembers: 10, maxGroupsPerUser: 3)

    /// Runs `body` with the store's groups and `count` new users.
    func withGroups(
        _ kind: StoreKind, users count: Int,
        _ body: @escaping @Sendable (any GroupRepository, [ObjectID]) async throws -> Void
    ) async throws {
        try await withStore(kind) { store in
            let groups: any GroupRepository = store
            var users: [ObjectID] = []
            for _ in 0..<count {
                let record = Fixture.user()
                try await store.insertUser(record)
                users.append(record.user.id)
            }
            try await body(groups, users)
        }
    }

    static func newGroup(_ name: String = "Team", at time: Timestamp = .now()) -> Group {
        Group(id: ObjectID(), name: name, createdAt: time, updatedAt: time)
    }

    @Test(arguments: StoreKind.available)
    func onlyMembersSeeAGroup(kind: StoreKind) async throws {
        try await withGroups(kind, users: 3) { groups, users in
            let (ann, bob, cat) = (users[0], users[1], users[2])
            let group = Self.newGroup()
            let ghost = ObjectID()
            await #expect(throws: GroupChangeError.unknownUsers([ghost])) {
                try await groups.createGroup(group, owner: ann, members: [bob, ghost], limits: Self.limits)
            }
            let members = try await groups.createGroup(
                group, owner: ann, members: [bob, bob, ann], limits: Self.limits)
            #expect(members.map(\.userID) == [ann, bob] && members.map(\.role) == [.owner, .member])
            let seen = try #require(try await groups.group(id: group.id, visibleTo: bob))
            #expect(seen.group.name == "Team" && Set(seen.members) == Set(members))
            #expect(try await groups.group(id: group.id, visibleTo: cat) == nil)
            #expect(try await groups.groups(of: bob).map(\.id) == [group.id])
            #expect(try await groups.groups(of: cat).isEmpty)
            await #expect(throws: GroupChangeError.groupNotFound) {
                try await groups.changeMembership(of: group.id, .add([cat]), by: cat, at: .now(), limits: Self.limits)
            }
        }
    }

    @Test(arguments: StoreKind.available)
    func rolesAreCheckedAndOwnershipPassesOn(kind: StoreKind) async throws {
        try await withGroups(kind, users: 4) { groups, users in
            let (ann, bob, cat, dan) = (users[0], users[1], users[2], users[3])
            let group = Self.newGroup()
            _ = try await groups.createGroup(group, owner: ann, members: [bob, cat], limits: Self.limits)
            await #expect(throws: GroupChangeError.self) {
                try await groups.changeMembership(of: group.id, .add([dan]), by: bob, at: .now(), limits: Self.limits)
            }
            _ = try await groups.changeMembership(
                of: group.id, .setRole(cat, .admin), by: ann, at: .now(), limits: Self.limits)
            let added = try await groups.changeMembership(
                of: group.id, .add([dan, bob]), by: cat, at: .now(), limits: Self.limits)
            #expect(added.added.map(\.userID) == [dan])
            // The owner leaves: the admin takes over; the last one out closes the group.
            #expect(
                try await groups.changeMembership(of: group.id, .leave, by: ann, at: .now(), limits: Self.limits).roles
                    == [cat: .owner])
            let roster = try #require(try await groups.group(id: group.id, visibleTo: cat)).members
            #expect(roster.filter { $0.role == .owner }.map(\.userID) == [cat])
            for user in [bob, dan, cat] {
                _ = try await groups.changeMembership(of: group.id, .leave, by: user, at: .now(), limits: Self.limits)
            }
            #expect(try await groups.group(id: group.id, visibleTo: cat) == nil)
            #expect(try await groups.groups(of: cat).isEmpty)
        }
    }

    /// Two admins removing each other at once, ten times over: each time one wins, the other is
    /// told the group no longer exists for them, and the group keeps its owner.
    @Test(arguments: StoreKind.available)
    func racingChangesAreDecidedOneAfterTheOther(kind: StoreKind) async throws {
        try await withGroups(kind, users: 3) { groups, users in
            let (ann, bob, cat) = (users[0], users[1], users[2])
            for _ in 0..<10 {
                let group = Self.newGroup()
                _ = try await groups.createGroup(group, owner: ann, members: [bob, cat], limits: Self.limits)
                for admin in [bob, cat] {
                    _ = try await groups.changeMembership(
                        of: group.id, .setRole(admin, .admin), by: ann, at: .now(), limits: Self.limits)
                }
                let outcomes = await withTaskGroup(of: String.self) { race in
                    for (actor, target) in [(bob, cat), (cat, bob)] {
                        race.addTask {
                            do {
                                _ = try await groups.changeMembership(
                                    of: group.id, .remove(target), by: actor, at: .now(), limits: Self.limits)
                                return "won"
                            } catch GroupChangeError.groupNotFound {
                                return "gone"
                            } catch {
                                return "\(error)"
                            }
                        }
                    }
                    var outcomes: [String] = []
                    for await outcome in race { outcomes.append(outcome) }
                    return outcomes.sorted()
                }
                #expect(outcomes == ["gone", "won"])
                let roster = try #require(try await groups.group(id: group.id, visibleTo: ann)).members
                #expect(roster.count == 2 && roster.filter { $0.role == .owner }.map(\.userID) == [ann])
                _ = try await groups.changeMembership(of: group.id, .leave, by: ann, at: .now(), limits: Self.limits)
                for user in roster.map(\.userID) where user != ann {
                    _ = try await groups.changeMembership(
                        of: group.id, .leave, by: user, at: .now(), limits: Self.limits)
                }
            }
        }
    }

    /// One user added to four groups at once, with a limit of three groups per user: three.
    /// (MongoDB counts a user's groups without locking them, as its store says: not run there.)
    @Test(arguments: StoreKind.available.filter { $0 != .mongodb })
    func theGroupsPerUserLimitHoldsAcrossGroupsAddingAtOnce(kind: StoreKind) async throws {
        try await withGroups(kind, users: 5) { groups, users in
            let joiner = users[4]
            var created: [(ObjectID, ObjectID)] = []
            for owner in users.prefix(4) {
                let group = Self.newGroup()
                _ = try await groups.createGroup(group, owner: owner, members: [], limits: Self.limits)
                created.append((group.id, owner))
            }
            let added = await withTaskGroup(of: Int.self) { adds in
                for (group, owner) in created {
                    adds.addTask {
                        (try? await groups.changeMembership(
                            of: group, .add([joiner]), by: owner, at: .now(), limits: Self.limits))?.added.count ?? 0
                    }
                }
                var total = 0
                for await count in adds { total += count }
                return total
            }
            #expect(added == 3)
            #expect(try await groups.groups(of: joiner).count == 3)
        }
    }

    /// Many adds at once never take a group past its limit.
    @Test(arguments: StoreKind.available)
    func limitsHoldUnderConcurrentAdds(kind: StoreKind) async throws {
        try await withGroups(kind, users: 21) { groups, users in
            let group = Self.newGroup()
            _ = try await groups.createGroup(group, owner: users[0], members: [], limits: Self.limits)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                for user in users.dropFirst() {
                    tasks.addTask {
                        _ = try? await groups.changeMembership(
                            of: group.id, .add([user]), by: users[0], at: .now(), limits: Self.limits)
                    }
                }
                try await tasks.waitForAll()
            }
            #expect(try #require(try await groups.group(id: group.id, visibleTo: users[0])).members.count == 10)
            // And a user can be in at most three groups.
            for name in ["Two", "Three"] {
                _ = try await groups.createGroup(Self.newGroup(name), owner: users[0], members: [], limits: Self.limits)
            }
            await #expect(throws: GroupChangeError.tooManyGroups([users[0]], limit: 3)) {
                try await groups.createGroup(Self.newGroup("Four"), owner: users[0], members: [], limits: Self.limits)
            }
        }
    }

    @Test(arguments: StoreKind.available)
    func ownersAndAdminsRenameAndChangeTheAvatar(kind: StoreKind) async throws {
        try await withGroups(kind, users: 3) { groups, users in
            let (ann, bob, cat) = (users[0], users[1], users[2])
            let group = Self.newGroup()
            _ = try await groups.createGroup(group, owner: ann, members: [bob], limits: Self.limits)
            let later = Timestamp.now().adding(milliseconds: 5)
            let (previous, updated) = try await groups.updateGroup(
                id: group.id, by: ann, changes: GroupChanges(name: "Renamed", avatar: ("https://x/a.png", "media-1")),
                at: later)
            #expect(previous.name == "Team" && updated.name == "Renamed" && updated.avatarMediaID == "media-1")
            #expect(try await groups.group(id: group.id, visibleTo: bob)?.group == updated)
            await #expect(throws: GroupChangeError.forbidden("Only owners and admins change the group")) {
                try await groups.updateGroup(id: group.id, by: bob, changes: GroupChanges(name: "No"), at: .now())
            }
            await #expect(throws: GroupChangeError.groupNotFound) {
                try await groups.updateGroup(id: group.id, by: cat, changes: GroupChanges(name: "No"), at: .now())
            }
        }
    }
}
