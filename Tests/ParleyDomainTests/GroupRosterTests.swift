import ParleyDomain
import Testing

@Suite("Group membership rules")
struct GroupRosterTests {
    let owner = ObjectID()
    let admin = ObjectID()
    let elder = ObjectID()
    let member = ObjectID()
    let outsider = ObjectID()
    let limits = GroupLimits(maxMembers: 5, maxGroupsPerUser: 2)

    /// Owner, an admin who joined after a member, the member, and a second admin joined first.
    var roster: GroupRoster {
        GroupRoster([
            GroupMember(userID: owner, role: .owner, joinedAt: Timestamp(millisecondsSince1970: 1)),
            GroupMember(userID: member, role: .member, joinedAt: Timestamp(millisecondsSince1970: 2)),
            GroupMember(userID: admin, role: .admin, joinedAt: Timestamp(millisecondsSince1970: 4)),
            GroupMember(userID: elder, role: .admin, joinedAt: Timestamp(millisecondsSince1970: 3)),
        ])
    }

    let now = Timestamp(millisecondsSince1970: 10)

    @Test func ownersAndAdminsAddNewUsersOnceAndMembersCannot() throws {
        let new = ObjectID()
        let outcome = try roster.apply(
            .add([new, member, new]), by: admin, at: now, limits: limits, groupCounts: [new: 0, member: 1])
        #expect(outcome.added == [GroupMember(userID: new, role: .member, joinedAt: now)])
        #expect(try roster.apply(.add([member]), by: owner, at: now, limits: limits, groupCounts: [member: 1]).isEmpty)
        #expect(throws: GroupChangeError.forbidden("Only owners and admins add members")) {
            try roster.apply(.add([new]), by: member, at: now, limits: limits, groupCounts: [new: 0])
        }
    }

    @Test func addingIsRefusedForUnknownUsersAndPastTheLimits() {
        let (a, b, c) = (ObjectID(), ObjectID(), ObjectID())
        #expect(throws: GroupChangeError.unknownUsers([b])) {
            try roster.apply(.add([a, b]), by: owner, at: now, limits: limits, groupCounts: [a: 0])
        }
        #expect(throws: GroupChangeError.tooManyMembers(limit: 5)) {
            try roster.apply(.add([a, b]), by: owner, at: now, limits: limits, groupCounts: [a: 0, b: 0])
        }
        #expect(throws: GroupChangeError.tooManyGroups([c], limit: 2)) {
            try roster.apply(.add([c]), by: owner, at: now, limits: limits, groupCounts: [c: 2])
        }
    }

    @Test func aNonMemberIsToldTheGroupDoesNotExist() {
        for change in [
            GroupChange.add([]), .remove(member), .leave, .setRole(member, .admin), .transferOwnership(to: member),
        ] {
            #expect(throws: GroupChangeError.groupNotFound) {
                try roster.apply(change, by: outsider, at: now, limits: limits)
            }
        }
    }

    @Test func adminsRemoveMembersAndAdminsButNeverTheOwner() throws {
        #expect(try roster.apply(.remove(member), by: admin, at: now, limits: limits).removed == [member])
        #expect(try roster.apply(.remove(elder), by: admin, at: now, limits: limits).removed == [elder])
        #expect(throws: GroupChangeError.self) { try roster.apply(.remove(owner), by: admin, at: now, limits: limits) }
        #expect(throws: GroupChangeError.forbidden("Only owners and admins remove members")) {
            try roster.apply(.remove(admin), by: member, at: now, limits: limits)
        }
        #expect(throws: GroupChangeError.notAMember(outsider)) {
            try roster.apply(.remove(outsider), by: owner, at: now, limits: limits)
        }
    }

    /// Two admins removing each other: whichever commits second is no longer a member.
    @Test func twoAdminsRacingToRemoveEachOther() throws {
        let first = try roster.apply(.remove(elder), by: admin, at: now, limits: limits)
        let after = roster.applying(first)
        #expect(throws: GroupChangeError.groupNotFound) {
            try after.apply(.remove(admin), by: elder, at: now, limits: limits)
        }
        #expect(after.owner == owner)
    }

    @Test func anOwnerWhoLeavesHandsOwnershipToTheLongestStandingAdmin() throws {
        let outcome = try roster.apply(.leave, by: owner, at: now, limits: limits)
        #expect(outcome.removed == [owner] && outcome.roles == [elder: .owner] && !outcome.closed)
        #expect(roster.applying(outcome).owner == elder)
        // Without admins, the longest-standing member; removing oneself is leaving.
        let noAdmins = GroupRoster(roster.members.values.filter { $0.role != .admin })
        #expect(try noAdmins.apply(.remove(owner), by: owner, at: now, limits: limits).roles == [member: .owner])
    }

    @Test func theLastMemberLeavingClosesTheGroup() throws {
        let alone = GroupRoster([GroupMember(userID: owner, role: .owner, joinedAt: now)])
        let outcome = try alone.apply(.leave, by: owner, at: now, limits: limits)
        #expect(outcome.closed && outcome.removed == [owner])
    }

    @Test func onlyTheOwnerChangesRolesAndTransfersOwnership() throws {
        #expect(
            try roster.apply(.setRole(member, .admin), by: owner, at: now, limits: limits).roles == [member: .admin])
        #expect(try roster.apply(.setRole(admin, .admin), by: owner, at: now, limits: limits).isEmpty)
        #expect(throws: GroupChangeError.forbidden("Only the owner changes roles")) {
            try roster.apply(.setRole(member, .admin), by: admin, at: now, limits: limits)
        }
        #expect(throws: GroupChangeError.self) {
            try roster.apply(.setRole(member, .owner), by: owner, at: now, limits: limits)
        }
        let transfer = try roster.apply(.transferOwnership(to: member), by: owner, at: now, limits: limits)
        #expect(transfer.roles == [member: .owner, owner: .admin])
        #expect(roster.applying(transfer).owner == member)
        #expect(throws: GroupChangeError.forbidden("Only the owner transfers ownership")) {
            try roster.apply(.transferOwnership(to: member), by: admin, at: now, limits: limits)
        }
    }
}

extension GroupRosterTests {
    /// What `parley copy` does with members it leaves behind: they leave, ownership passes on.
    @Test func membersLeftBehindLeaveAsTheyWould() {
        let (owner, admin, member) = (ObjectID(), ObjectID(), ObjectID())
        let start = Timestamp(millisecondsSince1970: 1_000)
        let roster = GroupRoster([
            GroupMember(userID: owner, role: .owner, joinedAt: start),
            GroupMember(userID: member, role: .member, joinedAt: start),
            GroupMember(userID: admin, role: .admin, joinedAt: start.adding(milliseconds: 5)),
        ])
        let withoutOwner = roster.without([owner])
        #expect(withoutOwner.owner == admin && withoutOwner.members.count == 2)
        #expect(roster.without([member]).owner == owner)
        #expect(roster.without([owner, admin, member]).members.isEmpty)
    }
}
