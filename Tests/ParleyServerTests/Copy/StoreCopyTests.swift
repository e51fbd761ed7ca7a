import Logging
import ParleyChat
import ParleyDomain
import Testing

@testable import ParleyTesting

/// `parley copy`'s engine against real stores: every pair of the stores this machine has
/// (SQLite always, PostgreSQL under the test command).
@Suite("Copying between stores")
struct StoreCopyTests {
    static var pairs: [(StoreKind, StoreKind)] {
        StoreKind.available.flatMap { source in StoreKind.available.map { (source, $0) } }
    }

    @Test("copies users and messages exactly, and a copy back is equal", arguments: pairs)
    func roundTrip(from sourceKind: StoreKind, to targetKind: StoreKind) async throws {
        try await withStores(sourceKind, targetKind, sourceKind) { source, middle, back in
            let seeded = try await Seed.fill(source)
            let there = try await copy(from: source, to: middle, batchSize: 7)
            #expect(there.outcome == .completed)
            #expect(there.users.inserted == seeded.users.count)
            #expect(there.messages.inserted == seeded.messages.count)
            // The logged-out token that has not expired, and only it.
            #expect(there.tokenRevocations.read == 1 && there.tokenRevocations.inserted == 1)
            let home = try await copy(from: middle, to: back, batchSize: 7)
            #expect(home.messages.inserted == seeded.messages.count)

            let digests = try await [source, middle, back].asyncMap { try await StoreDigest.compute(of: $0) }
            #expect(digests[0] == digests[1])
            #expect(digests[1] == digests[2])
            #expect(digests[0].messages.count == seeded.messages.count)

            // What the digest leaves out on purpose, and what logins and pages depend on.
            for record in seeded.users {
                let copied = try #require(try await back.user(id: record.user.id))
                #expect(copied == record)
            }
            let page = ConversationQuery(user: seeded.users[0].user.id, peer: seeded.users[1].user.id, limit: 100)
            #expect(try await back.conversation(page).map(\.id) == (try await source.conversation(page).map(\.id)))
            #expect(try await back.conversation(page).first?.imageMediaID != nil)
            for id in [seeded.messages[0].id, seeded.messages[3].id, seeded.messages[5].id] {
                #expect(try await back.message(id: id) == (try await source.message(id: id)))
            }
            #expect(try await back.message(id: seeded.messages[0].id)?.readAt != nil)
            // Sessions ended before the copy stay ended; the deleted account stays a tombstone.
            #expect(try await back.isTokenRevoked(fingerprint: "live-token"))
            #expect(try await !back.isTokenRevoked(fingerprint: "expired-token"))
            #expect(try await back.user(id: seeded.users[1].user.id)?.sessionsRevokedAt != nil)
            #expect(try await back.user(id: seeded.users[3].user.id)?.deletedAt != nil)
            #expect(try await back.message(id: seeded.messages[3].id)?.editedAt != nil)
            #expect(try await back.message(id: seeded.messages[5].id)?.deletedAt != nil)
            // The sidebar summary is rebuilt from the copied messages.
            let original = try await source.sidebar(of: seeded.users[1].user.id, after: nil, limit: nil)
            for store in [middle, back] {
                let sidebar = try await store.sidebar(of: seeded.users[1].user.id, after: nil, limit: nil)
                #expect(sidebar.map(\.unreadCount) == original.map(\.unreadCount))
                #expect(sidebar.map(\.lastMessage) == original.map(\.lastMessage))
            }
            #expect(original.map(\.unreadCount).reduce(0, +) > 0)
            // Groups: members and roles, the history in its order, read positions, the closed one.
            #expect(there.groups.inserted == 2 && there.groupMessages.inserted == 9 && there.readPositions == 2)
            #expect(digests[0].groups.count == 2 && digests[0].groupMessages.count == 9)
            let member = seeded.users[2].user.id
            let history = GroupMessageQuery(user: member, group: Seed.groupIDs.open, limit: 100)
            #expect(try await back.groupMessages(history) == (try await source.groupMessages(history)))
            #expect(
                try await back.readPositions(in: Seed.groupIDs.open)
                    == (try await source.readPositions(in: Seed.groupIDs.open)))
            #expect(try await back.role(of: seeded.users[1].user.id, in: Seed.groupIDs.open) == .admin)
            #expect(try await back.group(id: Seed.groupIDs.closed, visibleTo: member) == nil)
            #expect(try await back.groupSidebar(of: member) == (try await source.groupSidebar(of: member)))
            let again = try await copy(from: source, to: middle, batchSize: 7)
            #expect(again.groups.inserted == 0 && again.groupMessages.inserted == 0 && again.readPositions == 0)
        }
    }

    @Test("running again copies nothing and resumes after the last message", arguments: StoreKind.available)
    func secondRunCreatesNothing(target kind: StoreKind) async throws {
        try await withStores(.sqlite, kind) { source, target in
            let seeded = try await Seed.fill(source)
            _ = try await copy(from: source, to: target, batchSize: 10)
            let again = try await copy(from: source, to: target, batchSize: 10)
            #expect(again.outcome == .completed)
            #expect(again.users.inserted == 0)
            #expect(again.users.alreadyPresent == seeded.users.count)
            #expect(again.messages.inserted == 0)
            #expect(again.resumedAfter == seeded.messages.last?.id)
            #expect(try await target.countMessages() == seeded.messages.count)
        }
    }

    @Test("an interrupted copy resumes where it stopped", arguments: StoreKind.available)
    func interruptedCopyResumes(target kind: StoreKind) async throws {
        try await withStores(.sqlite, kind) { source, target in
            let seeded = try await Seed.fill(source)
            let failing = FailingImporter(target, failOnMessageBatch: 3)
            await #expect(throws: FailingImporter.Interrupted.self) {
                _ = try await copy(from: source, to: failing, batchSize: 5)
            }
            #expect(try await target.countMessages() == 10)

            let resumed = try await copy(from: source, to: target, batchSize: 5)
            #expect(resumed.resumedAfter == seeded.messages[9].id)
            #expect(resumed.messages.read == seeded.messages.count - 10)
            #expect(resumed.messages.inserted == seeded.messages.count - 10)
            #expect(try await StoreDigest.compute(of: source) == (try await StoreDigest.compute(of: target)))
        }
    }

    @Test("an email taken in the target stops the copy before writing, or is skipped", arguments: StoreKind.available)
    func emailTakenInTarget(target kind: StoreKind) async throws {
        try await withStores(.sqlite, kind) { source, target in
            let seeded = try await Seed.fill(source)
            let taken = seeded.users[1].user
            let squatter = Fixture.user(name: "Other", email: taken.email)
            try await target.insertUser(squatter)

            let refused = try await copy(from: source, to: target)
            #expect(refused.outcome == .refused)
            #expect(
                refused.conflicts.first
                    == CopyConflict(
                        collection: .users,
                        id: taken.id.hexString,
                        kind: .emailTaken(email: taken.email, existingID: squatter.user.id)
                    )
            )
            // The user's messages would lose their sender or receiver: reported with their ids.
            let orphans = seeded.messages.filter { $0.involves(taken.id) }.map(\.id.hexString)
            #expect(refused.conflicts.dropFirst().map(\.id) == orphans)
            #expect(refused.conflicts.dropFirst().allSatisfy { $0.kind == .missingUser(taken.id) })
            #expect(try await target.countUsers() == 1)
            #expect(try await target.countMessages() == 0)

            let skipped = try await copy(from: source, to: target, onConflict: .skip)
            #expect(skipped.outcome == .completed)
            #expect(skipped.users.inserted == seeded.users.count - 1)
            let leftBehind = seeded.messages.filter { $0.involves(taken.id) }
            #expect(!leftBehind.isEmpty)
            #expect(skipped.messages.skipped == leftBehind.count)
            #expect(skipped.messages.inserted == seeded.messages.count - leftBehind.count)
            #expect(skipped.conflicts.contains { $0.kind == .missingUser(taken.id) && $0.collection == .messages })
            #expect(try await target.user(id: taken.id) == nil)

            // A skip run left messages behind: the next run goes through them all again.
            let again = try await copy(from: source, to: target, onConflict: .skip)
            #expect(again.resumedAfter == nil)
            #expect(again.messages.read == seeded.messages.count)
            #expect(again.messages.inserted == 0)
        }
    }

    @Test("a dry run counts and reports without writing", arguments: StoreKind.available)
    func dryRun(target kind: StoreKind) async throws {
        try await withStores(.sqlite, kind) { source, target in
            let seeded = try await Seed.fill(source)
            try await target.insertUser(Fixture.user(email: seeded.users[0].user.email))
            let report = try await copy(from: source, to: target, dryRun: true)
            #expect(report.outcome == .dryRun)
            #expect(report.users.sourceCount == seeded.users.count)
            #expect(report.messages.sourceCount == seeded.messages.count)
            #expect(report.users.targetCount == 1)
            #expect(report.conflicts.contains { $0.id == seeded.users[0].user.id.hexString })
            // The user's messages would lose their sender or receiver: reported too.
            #expect(report.conflicts.contains { $0.kind == .missingUser(seeded.users[0].user.id) })
            #expect(try await target.countUsers() == 1)
            #expect(try await target.countMessages() == 0)
        }
    }

    @Test("verification tells equal stores from different ones")
    func verificationSeesDifferences() async throws {
        try await withStores(.sqlite, .sqlite) { source, target in
            let seeded = try await Seed.fill(source)
            _ = try await copy(from: source, to: target)
            #expect(try await StoreDigest.compute(of: source) == (try await StoreDigest.compute(of: target)))
            try await target.insertMessage(
                Fixture.message(from: seeded.users[0].user.id, to: seeded.users[1].user.id, text: "late")
            )
            let (before, after) = (try await StoreDigest.compute(of: source), try await StoreDigest.compute(of: target))
            #expect(before.users == after.users)
            #expect(before.messages.count + 1 == after.messages.count)
            #expect(before.messages.sha256 != after.messages.sha256)
        }
    }

    @Test("invalid records and messages pointing at missing users are conflicts")
    func invalidSourceRecords() async throws {
        let good = [Fixture.user(name: "Ann"), Fixture.user(name: "Bob")]
        let ghost = ObjectID()
        let messages: [ExportedRecord<Message>] = [
            .valid(Fixture.message(from: good[0].user.id, to: good[1].user.id, text: "kept")),
            .valid(Fixture.message(from: good[0].user.id, to: ghost, text: "to nobody")),
            .invalid(id: ObjectID().hexString, reason: "no text and no image"),
            // Another application stored a NUL: PostgreSQL could not take it; it is reported.
            .valid(Fixture.message(from: good[1].user.id, to: good[0].user.id, text: "nul\u{0}inside")),
        ]
        let invalidUser = ObjectID().hexString
        let source = ScriptedExporter(
            users: good.map { .valid($0) } + [.invalid(id: invalidUser, reason: "no email")],
            messages: messages
        )
        try await withStores(.sqlite) { target in
            let refused = try await copy(from: source, to: target)
            #expect(refused.outcome == .refused)
            #expect(refused.conflictCount == 4)
            #expect(refused.conflicts.contains { $0.id == invalidUser && $0.kind == .invalid(reason: "no email") })
            #expect(
                refused.conflicts.contains { $0.kind == .invalid(reason: "text or image contains a NUL character") })
            #expect(refused.conflicts.contains { $0.kind == .missingUser(ghost) })
            #expect(try await target.countUsers() == 0)

            let skipped = try await copy(from: source, to: target, onConflict: .skip)
            #expect(skipped.outcome == .completed)
            #expect(skipped.users.inserted == 2)
            #expect(skipped.messages.inserted == 1)
            #expect(skipped.conflictCount == 4)
        }
    }

    // MARK: Helpers

    private func copy(
        from source: any ChatExporter,
        to target: any ChatImporter,
        batchSize: Int = 5000,
        onConflict: ConflictPolicy = .fail,
        dryRun: Bool = false
    ) async throws -> CopyReport {
        let options = CopyOptions(batchSize: batchSize, onConflict: onConflict, dryRun: dryRun)
        return try await StoreCopier(from: source, to: target, options: options, logger: .quiet).run()
    }
}

/// Users and messages of every shape a copy must keep.
enum Seed {
    static func fill(_ store: any ChatImporter & ChatStore) async throws -> (users: [UserRecord], messages: [Message]) {
        var users = [
            Fixture.user(name: "Ann", hash: "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"),
            Fixture.user(name: "Bob Ü 😀"),
            Fixture.user(name: "Tab\tand\\back\nslash"),
        ]
        users[0].user.avatar = "https://res.cloudinary.com/demo/image/upload/avatar-1.png"
        users[0].avatarMediaID = "cloudinary:avatar-1"
        users[1].user.updatedAt = Timestamp(millisecondsSince1970: 1_700_000_999_999)
        for user in users { try await store.insertUser(user) }
        var messages: [Message] = []
        let texts: [String?] = ["plain", "tab\there", "new\nline", "back\\slash", "émoji 🎉", "\\N", nil, ""]
        for index in 0..<31 {
            let (sender, receiver) = index % 3 == 2 ? (users[2], users[0]) : (users[index % 2], users[1 - index % 2])
            let text = texts[index % texts.count]
            let message = Fixture.message(
                from: sender.user.id,
                to: receiver.user.id,
                text: text,
                image: text == nil || index % 5 == 0 ? "https://example.com/i/\(index).png" : nil,
                at: Timestamp(millisecondsSince1970: 1_700_000_000_000 + Int64(index) * 1001)
            )
            try await store.insertMessage(message)
            messages.append(message)
        }
        // Read receipts, an edit and a deletion: a copy must keep them too.
        let later = Timestamp(millisecondsSince1970: 1_700_000_100_000)
        _ = try await store.markRead(by: users[1].user.id, from: users[0].user.id, upTo: messages[10].id, at: later)
        _ = try await store.editMessage(id: messages[3].id, text: "edited", at: later)
        _ = try await store.deleteMessage(id: messages[5].id, at: later)
        // Sessions and accounts: a user who logged out everywhere, a deleted account with a
        // message, a logged-out token still to be refused and one that expired anyway.
        let dee = Fixture.user(name: "Dee")
        try await store.insertUser(dee)
        let fromDee = Fixture.message(
            from: dee.user.id, to: users[0].user.id, text: "bye",
            at: Timestamp(millisecondsSince1970: 1_700_000_200_000))
        try await store.insertMessage(fromDee)
        messages.append(fromDee)
        _ = try await store.revokeSessions(of: users[1].user.id, upTo: later)
        _ = try await store.deleteUser(id: dee.user.id, at: later)
        try await store.revokeToken(
            revokedToken(user: users[0].user.id, expiresAt: .now().adding(milliseconds: 3_600_000)))
        try await store.revokeToken(revokedToken(user: users[0].user.id, expiresAt: .now().adding(milliseconds: -1)))
        try await fillGroups(store, users: users.map(\.user.id))
        var stored: [UserRecord] = []
        for user in users + [dee] { stored.append(try #require(try await store.user(id: user.user.id))) }
        return (stored, messages)
    }

    /// The group ids ``fillGroups(_:users:)`` makes: one open with messages and read positions,
    /// one closed.
    static let groupIDs = (open: ObjectID("5f0000000000000000000001")!, closed: ObjectID("5f0000000000000000000002")!)

    /// Groups of every shape a copy must keep: roles, an avatar, messages (text, image, edited,
    /// deleted), read positions; a closed group.
    static func fillGroups(_ store: any ChatStore, users: [ObjectID]) async throws {
        let limits = GroupLimits()
        let start = Timestamp(millisecondsSince1970: 1_700_000_300_000)
        let open = Group(
            id: groupIDs.open, name: "Team ✨", avatar: "https://example.com/g.png", avatarMediaID: "local:g",
            createdAt: start, updatedAt: start)
        _ = try await store.createGroup(open, owner: users[0], members: [users[1], users[2]], limits: limits)
        _ = try await store.changeMembership(
            of: open.id, .setRole(users[1], .admin), by: users[0], at: start.adding(milliseconds: 1), limits: limits)
        var sent: [GroupMessage] = []
        for index in 0..<9 {
            let time = start.adding(milliseconds: 1000 * Int64(index + 1))
            let message = GroupMessage(
                id: ObjectID(), groupID: open.id, senderID: users[index % 3], text: index == 4 ? nil : "g\(index)\t✓",
                image: index % 4 == 0 ? "https://example.com/g\(index).png" : nil, createdAt: time, updatedAt: time)
            try await store.insertGroupMessage(message)
            sent.append(message)
        }
        let later = start.adding(milliseconds: 60_000)
        _ = try await store.editGroupMessage(id: sent[2].id, text: "edited", at: later)
        _ = try await store.deleteGroupMessage(id: sent[3].id, at: later)
        _ = try await store.markGroupRead(open.id, by: users[1], upTo: sent[6].id, at: later)
        _ = try await store.markGroupRead(open.id, by: users[2], upTo: sent[1].id, at: later)
        let closed = Group(id: groupIDs.closed, name: "Gone", createdAt: start, updatedAt: start)
        _ = try await store.createGroup(closed, owner: users[2], members: [], limits: limits)
        _ = try await store.changeMembership(of: closed.id, .leave, by: users[2], at: later, limits: limits)
    }

    /// A logged-out token, its fingerprint telling whether it expires in the future.
    static func revokedToken(user: ObjectID, expiresAt: Timestamp) -> TokenRevocation {
        TokenRevocation(
            fingerprint: expiresAt > .now() ? "live-token" : "expired-token", userID: user, expiresAt: expiresAt,
            revokedAt: .now())
    }
}

/// A target that fails its nth message batch, as a killed process or a lost connection would.
struct FailingImporter: ChatImporter {
    struct Interrupted: Error {}
    let inner: any ChatImporter
    let failOnMessageBatch: Int
    private let batches = Counter()

    init(_ inner: any ChatImporter, failOnMessageBatch: Int) {
        self.inner = inner
        self.failOnMessageBatch = failOnMessageBatch
    }

    var displayName: String { inner.displayName }
    var enforcesReferences: Bool { inner.enforcesReferences }
    func countUsers() async throws -> Int { try await inner.countUsers() }
    func countMessages() async throws -> Int { try await inner.countMessages() }
    func exportUsers(after: ObjectID?, limit: Int) async throws -> [ExportedRecord<UserRecord>] {
        try await inner.exportUsers(after: after, limit: limit)
    }
    func settledLastMessageID() async throws -> ObjectID? { try await inner.settledLastMessageID() }
    func exportMessages(after: ObjectID?, through: ObjectID, limit: Int) async throws -> [ExportedRecord<Message>] {
        try await inner.exportMessages(after: after, through: through, limit: limit)
    }
    func messagesByID(after: ObjectID?, limit: Int) async throws -> [Message] {
        try await inner.messagesByID(after: after, limit: limit)
    }
    func users(withIDs ids: [ObjectID]) async throws -> [ObjectID: UserRecord] { try await inner.users(withIDs: ids) }
    func exportTokenRevocations(after: String?, unexpiredAt time: Timestamp, limit: Int) async throws
        -> [TokenRevocation]
    {
        try await inner.exportTokenRevocations(after: after, unexpiredAt: time, limit: limit)
    }
    func importUsers(_ users: [UserRecord]) async throws -> Int { try await inner.importUsers(users) }
    func importTokenRevocations(_ revocations: [TokenRevocation]) async throws -> Int {
        try await inner.importTokenRevocations(revocations)
    }
    func importMessages(_ messages: [Message]) async throws -> Int {
        if await batches.next() == failOnMessageBatch { throw Interrupted() }
        return try await inner.importMessages(messages)
    }
    func userIDs(withEmails emails: [String]) async throws -> [String: ObjectID] {
        try await inner.userIDs(withEmails: emails)
    }
    func lastStoredMessageID() async throws -> ObjectID? { try await inner.lastStoredMessageID() }
    func hasSchema() async throws -> Bool { try await inner.hasSchema() }
    func finishImport() async throws { try await inner.finishImport() }
    func countGroups() async throws -> Int { try await inner.countGroups() }
    func countGroupMessages() async throws -> Int { try await inner.countGroupMessages() }
    func exportGroups(after: ObjectID?, limit: Int) async throws -> [ExportedGroup] {
        try await inner.exportGroups(after: after, limit: limit)
    }
    func exportGroupMessages(after: ObjectID?, limit: Int) async throws -> [GroupMessage] {
        try await inner.exportGroupMessages(after: after, limit: limit)
    }
    func groupMessagesByID(after: ObjectID?, limit: Int) async throws -> [GroupMessage] {
        try await inner.groupMessagesByID(after: after, limit: limit)
    }
    func importGroups(_ groups: [ExportedGroup]) async throws -> Int { try await inner.importGroups(groups) }
    func importGroupMessages(_ messages: [GroupMessage]) async throws -> Int {
        try await inner.importGroupMessages(messages)
    }
    func importReadPositions(_ reads: [GroupReadReceipt]) async throws -> Int {
        try await inner.importReadPositions(reads)
    }

    actor Counter {
        var value = 0
        func next() -> Int {
            value += 1
            return value
        }
    }
}

/// A source like another application's database: no references enforced, records that break
/// Parley's rules.
struct ScriptedExporter: ChatExporter {
    let users: [ExportedRecord<UserRecord>]
    let messages: [ExportedRecord<Message>]

    var displayName: String { "scripted source" }
    var enforcesReferences: Bool { false }
    func countUsers() async throws -> Int { users.count }
    func countMessages() async throws -> Int { messages.count }

    func exportUsers(after: ObjectID?, limit: Int) async throws -> [ExportedRecord<UserRecord>] {
        let sorted = users.sorted { key($0) < key($1) }
        return Array(sorted.filter { record in after.map { key(record) > $0.hexString } ?? true }.prefix(limit))
    }

    func settledLastMessageID() async throws -> ObjectID? {
        messages.last.flatMap { ObjectID(key($0)) }
    }

    func exportTokenRevocations(after: String?, unexpiredAt time: Timestamp, limit: Int) async throws
        -> [TokenRevocation]
    { [] }

    func countGroups() async throws -> Int { 0 }
    func countGroupMessages() async throws -> Int { 0 }
    func exportGroups(after: ObjectID?, limit: Int) async throws -> [ExportedGroup] { [] }
    func exportGroupMessages(after: ObjectID?, limit: Int) async throws -> [GroupMessage] { [] }
    func groupMessagesByID(after: ObjectID?, limit: Int) async throws -> [GroupMessage] { [] }

    func exportMessages(after: ObjectID?, through: ObjectID, limit: Int) async throws -> [ExportedRecord<Message>] {
        var start = 0
        if let after {
            guard let index = messages.firstIndex(where: { key($0) == after.hexString }) else {
                throw StoreError.cursorNotFound
            }
            start = index + 1
        }
        guard let end = messages.firstIndex(where: { key($0) == through.hexString }) else {
            throw StoreError.cursorNotFound
        }
        return start > end ? [] : Array(messages[start...end].prefix(limit))
    }

    func messagesByID(after: ObjectID?, limit: Int) async throws -> [Message] {
        let valid = messages.compactMap { record -> Message? in
            if case .valid(let message) = record { return message }
            return nil
        }
        let sorted = valid.sorted { $0.id < $1.id }
        return Array(sorted.filter { message in after.map { message.id > $0 } ?? true }.prefix(limit))
    }

    func users(withIDs ids: [ObjectID]) async throws -> [ObjectID: UserRecord] {
        var found: [ObjectID: UserRecord] = [:]
        for case .valid(let user) in users where ids.contains(user.user.id) { found[user.user.id] = user }
        return found
    }

    private func key<Record>(_ record: ExportedRecord<Record>) -> String {
        switch record {
        case .valid(let user as UserRecord): user.user.id.hexString
        case .valid(let message as Message): message.id.hexString
        case .valid: ""
        case .invalid(let id, _): id
        }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}

/// Runs `body` with fresh, migrated stores of these kinds.
func withStores(
    _ a: StoreKind,
    _ body: @escaping @Sendable (any ChatStore & ChatImporter) async throws -> Void
) async throws {
    try await withStore(a) { store in try await body(store as! any ChatStore & ChatImporter) }
}

func withStores(
    _ a: StoreKind,
    _ b: StoreKind,
    _ body: @escaping @Sendable (any ChatStore & ChatImporter, any ChatStore & ChatImporter) async throws -> Void
) async throws {
    try await withStores(a) { first in
        try await withStores(b) { second in try await body(first, second) }
    }
}

func withStores(
    _ a: StoreKind,
    _ b: StoreKind,
    _ c: StoreKind,
    _ body:
        @escaping @Sendable (any ChatStore & ChatImporter, any ChatStore & ChatImporter, any ChatStore & ChatImporter)
        async throws -> Void
) async throws {
    try await withStores(a, b) { first, second in
        try await withStores(c) { third in try await body(first, second, third) }
    }
}
