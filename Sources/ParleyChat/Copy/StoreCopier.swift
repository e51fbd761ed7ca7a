import Logging
import ParleyDomain

/// Copies every user, then every message, from one store to another: `parley copy`.
///
/// Ids, timestamps and password hashes are kept exactly. Records the target has already are left
/// alone, so a copy can be interrupted and run again; messages resume after the last one the
/// target stored. Memory stays flat: one batch is written while the next is read.
public struct StoreCopier: Sendable {
    public let source: any ChatExporter
    public let target: any ChatImporter
    public let options: CopyOptions
    let logger: Logger
    let progress: @Sendable (CopyProgress) -> Void

    /// - Parameters:
    ///   - target: its schema must exist unless this is a dry run.
    ///   - progress: called after every batch.
    public init(
        from source: any ChatExporter,
        to target: any ChatImporter,
        options: CopyOptions,
        logger: Logger,
        progress: @escaping @Sendable (CopyProgress) -> Void = { _ in }
    ) {
        self.source = source
        self.target = target
        self.options = options
        self.logger = logger
        self.progress = progress
    }

    public func run() async throws -> CopyReport {
        var report = CopyReport()
        let targetExists = try await target.hasSchema()
        // Taken first: every message up to it was committed with its users, so the users read
        // next include every sender and receiver of the messages copied after them.
        let bound = try await source.settledLastMessageID()
        report.users.sourceCount = try await source.countUsers()
        report.messages.sourceCount = try await source.countMessages()
        report.groups.sourceCount = try await source.countGroups()
        report.groupMessages.sourceCount = try await source.countGroupMessages()
        if targetExists {
            report.users.targetCount = try await target.countUsers()
            report.messages.targetCount = try await target.countMessages()
            report.groups.targetCount = try await target.countGroups()
            report.groupMessages.targetCount = try await target.countGroupMessages()
        }

        if options.dryRun || options.onConflict == .fail {
            try await check(&report, targetExists: targetExists, through: bound)
            if options.dryRun {
                report.outcome = .dryRun
                return report
            }
            if report.conflictCount > 0 {
                report.outcome = .refused
                return report
            }
        }
        var skippedUsers: Set<ObjectID> = []
        guard try await copyUsers(&report, skippedUsers: &skippedUsers) else {
            report.outcome = .stopped
            return report
        }
        try await copyTokenRevocations(&report)
        guard let bound else {
            try await target.finishImport()
            try await copyGroups(&report, skippedUsers: skippedUsers)
            return report
        }
        let completed: Bool
        do {
            try await target.beginImport()
            completed = try await copyMessages(&report, skippedUsers: skippedUsers, through: bound)
        } catch {
            // The batches before the failure are in: bring what the target derives from them up
            // to date anyway (the store skips this when nothing was deferred).
            try? await target.finishImport()
            throw error
        }
        try await target.finishImport()
        if !completed {
            report.outcome = .stopped
            return report
        }
        try await copyGroups(&report, skippedUsers: skippedUsers)
        return report
    }

    // MARK: Groups

    /// Groups with their members, then every group message, then members' read positions (which
    /// point at messages). Idempotent: groups and messages the target has are recognised by id,
    /// read positions only move forward. Members and messages of users left behind stay behind.
    private func copyGroups(_ report: inout CopyReport, skippedUsers: Set<ObjectID>) async throws {
        progress(.init(phase: .copying, collection: .groups, done: 0, total: report.groups.sourceCount))
        var after: ObjectID?
        while true {
            let batch = try await source.exportGroups(after: after, limit: options.batchSize)
            guard let last = batch.last else { break }
            after = last.group.id
            report.groups.read += batch.count
            let groups = batch.map { exported in
                var kept = exported
                guard exported.members.contains(where: { skippedUsers.contains($0.userID) }) else { return kept }
                // Members left behind leave, as they would: ownership passes on, and a group left
                // with nobody is closed.
                let roster = GroupRoster(exported.members).without(skippedUsers)
                kept.members = exported.members.compactMap { roster.members[$0.userID] }
                if kept.members.isEmpty, kept.group.closedAt == nil { kept.group.closedAt = kept.group.updatedAt }
                return kept
            }
            let inserted = try await target.importGroups(groups)
            report.groups.inserted += inserted
            report.groups.alreadyPresent += groups.count - inserted
            progress(
                .init(phase: .copying, collection: .groups, done: report.groups.read, total: report.groups.sourceCount))
        }
        progress(
            .init(
                phase: .copying, collection: .groups, done: report.groups.read, total: report.groups.sourceCount,
                finished: true))

        let total = report.groupMessages.sourceCount
        progress(.init(phase: .copying, collection: .groupMessages, done: 0, total: total))
        var afterMessage: ObjectID?
        while true {
            let batch = try await source.exportGroupMessages(after: afterMessage, limit: options.batchSize)
            guard let last = batch.last else { break }
            afterMessage = last.id
            report.groupMessages.read += batch.count
            let messages = batch.filter { !skippedUsers.contains($0.senderID) }
            report.groupMessages.skipped += batch.count - messages.count
            let inserted = try await target.importGroupMessages(messages)
            report.groupMessages.inserted += inserted
            report.groupMessages.alreadyPresent += messages.count - inserted
            progress(.init(phase: .copying, collection: .groupMessages, done: report.groupMessages.read, total: total))
        }
        progress(
            .init(
                phase: .copying, collection: .groupMessages, done: report.groupMessages.read, total: total,
                finished: true))

        after = nil
        while true {
            let batch = try await source.exportGroups(after: after, limit: options.batchSize)
            guard let last = batch.last else { break }
            after = last.group.id
            let reads = batch.flatMap(\.reads).filter { !skippedUsers.contains($0.by) }
            if !reads.isEmpty { report.readPositions += try await target.importReadPositions(reads) }
        }
    }

    // MARK: Checking before writing

    /// Reads the source for conflicts without writing: users, then (when the source does not
    /// guarantee references, or some users conflict) messages.
    private func check(_ report: inout CopyReport, targetExists: Bool, through bound: ObjectID?) async throws {
        var conflicting: Set<ObjectID> = []
        var after: ObjectID?
        var done = 0
        progress(.init(phase: .checking, collection: .users, done: 0, total: report.users.sourceCount))
        while true {
            let batch = try await source.exportUsers(after: after, limit: options.batchSize)
            guard let last = try cursor(of: batch) else { break }
            after = last
            for conflict in try await acceptableUsers(batch, targetExists: targetExists).1 {
                report.record(conflict)
                if let id = ObjectID(conflict.id) { conflicting.insert(id) }
            }
            done += batch.count
            progress(.init(phase: .checking, collection: .users, done: done, total: report.users.sourceCount))
        }
        progress(.init(phase: .checking, collection: .users, done: done, total: done, finished: true))

        guard let bound, !source.enforcesReferences || !conflicting.isEmpty else { return }
        var references = ReferenceCheck(
            source: source,
            target: targetExists ? target : nil,
            sourceEnforcesReferences: source.enforcesReferences,
            leftBehind: conflicting,
            usersCopied: false
        )
        var messageCursor: ObjectID?
        done = 0
        while true {
            let batch = try await source.exportMessages(after: messageCursor, through: bound, limit: options.batchSize)
            guard let last = try cursor(of: batch) else { break }
            messageCursor = last
            let (_, conflicts) = try await references.acceptableMessages(batch)
            conflicts.forEach { report.record($0) }
            done += batch.count
            progress(.init(phase: .checking, collection: .messages, done: done, total: report.messages.sourceCount))
        }
        progress(.init(phase: .checking, collection: .messages, done: done, total: done, finished: true))
    }

    // MARK: Users

    /// - Returns: `false` if a conflict stopped the copy.
    private func copyUsers(_ report: inout CopyReport, skippedUsers: inout Set<ObjectID>) async throws -> Bool {
        let total = report.users.sourceCount
        progress(.init(phase: .copying, collection: .users, done: 0, total: total))
        var batch = try await source.exportUsers(after: nil, limit: options.batchSize)
        while let last = try cursor(of: batch) {
            async let following = source.exportUsers(after: last, limit: options.batchSize)
            report.users.read += batch.count
            var (users, conflicts) = try await acceptableUsers(batch, targetExists: true)
            var inserted = 0
            do {
                inserted = try await target.importUsers(users)
            } catch StoreError.duplicateEmail {
                // An email repeated within the source, or taken in the target since we looked:
                // find out which, one by one.
                (inserted, users, conflicts) = try await importUsersOneByOne(users, conflicts: conflicts)
            }
            for conflict in conflicts {
                report.record(conflict)
                if let id = ObjectID(conflict.id) { skippedUsers.insert(id) }
            }
            report.users.inserted += inserted
            report.users.alreadyPresent += users.count - inserted
            report.users.skipped += conflicts.count
            progress(.init(phase: .copying, collection: .users, done: report.users.read, total: total))
            if !conflicts.isEmpty && options.onConflict == .fail { return false }
            batch = try await following
        }
        progress(.init(phase: .copying, collection: .users, done: report.users.read, total: total, finished: true))
        return true
    }

    /// Logged-out tokens that have not expired yet, so that they stay refused on the target.
    private func copyTokenRevocations(_ report: inout CopyReport) async throws {
        let now = Timestamp.now()
        var after: String?
        while true {
            let batch = try await source.exportTokenRevocations(
                after: after, unexpiredAt: now, limit: options.batchSize)
            guard let last = batch.last else { break }
            after = last.fingerprint
            report.tokenRevocations.read += batch.count
            report.tokenRevocations.inserted += try await target.importTokenRevocations(batch)
        }
    }

    private func importUsersOneByOne(_ users: [UserRecord], conflicts: [CopyConflict]) async throws
        -> (inserted: Int, users: [UserRecord], conflicts: [CopyConflict])
    {
        var inserted = 0
        var accepted: [UserRecord] = []
        var conflicts = conflicts
        for user in users {
            do {
                inserted += try await target.importUsers([user])
                accepted.append(user)
            } catch StoreError.duplicateEmail {
                let owner = try await target.userIDs(withEmails: [user.user.email])[user.user.email]
                conflicts.append(
                    CopyConflict(
                        collection: .users,
                        id: user.user.id.hexString,
                        kind: owner.map { .emailTaken(email: user.user.email, existingID: $0) }
                            ?? .invalid(reason: "email \(user.user.email) is used twice")
                    )
                )
            }
        }
        return (inserted, accepted, conflicts)
    }

    /// Splits a batch into users that can be copied and conflicts: invalid records, and emails
    /// that belong to another id in the target.
    private func acceptableUsers(_ batch: [ExportedRecord<UserRecord>], targetExists: Bool) async throws
        -> ([UserRecord], [CopyConflict])
    {
        var users: [UserRecord] = []
        var conflicts: [CopyConflict] = []
        for record in batch {
            switch record {
            case .valid(let user): users.append(user)
            case .invalid(let id, let reason):
                conflicts.append(CopyConflict(collection: .users, id: id, kind: .invalid(reason: reason)))
            }
        }
        guard targetExists, !users.isEmpty else { return (users, conflicts) }
        let owners = try await target.userIDs(withEmails: users.map(\.user.email))
        users.removeAll { record in
            guard let owner = owners[record.user.email], owner != record.user.id else { return false }
            conflicts.append(
                CopyConflict(
                    collection: .users,
                    id: record.user.id.hexString,
                    kind: .emailTaken(email: record.user.email, existingID: owner)
                )
            )
            return true
        }
        return (users, conflicts)
    }

    // MARK: Messages

    /// - Returns: `false` if a conflict stopped the copy.
    private func copyMessages(_ report: inout CopyReport, skippedUsers: Set<ObjectID>, through bound: ObjectID)
        async throws -> Bool
    {
        var start: ObjectID?
        // Resuming is safe only when no earlier run left messages behind: not in skip mode (its
        // skipped messages come before the target's newest one), nor when asked for a full pass.
        if options.onConflict == .fail, !options.fullPass, let last = try await target.lastStoredMessageID() {
            do {
                _ = try await source.exportMessages(after: last, through: bound, limit: 0)
                start = last
                report.resumedAfter = last
                logger.info(
                    "Resuming the messages after the last one the target stored", metadata: ["after": "\(last)"])
            } catch StoreError.cursorNotFound {
                // The target's newest message is not from this source: go through them all;
                // those already copied are recognised by id.
            }
        }
        // The messages still to come, if the target's messages all came from the source.
        let total =
            start == nil
            ? report.messages.sourceCount : max(0, report.messages.sourceCount - report.messages.targetCount)
        var references = ReferenceCheck(
            source: source,
            target: target,
            sourceEnforcesReferences: source.enforcesReferences,
            leftBehind: skippedUsers,
            usersCopied: true
        )
        progress(.init(phase: .copying, collection: .messages, done: 0, total: total))
        var batch = try await source.exportMessages(after: start, through: bound, limit: options.batchSize)
        while let last = try cursor(of: batch) {
            async let following = source.exportMessages(after: last, through: bound, limit: options.batchSize)
            report.messages.read += batch.count
            let (messages, conflicts) = try await references.acceptableMessages(batch)
            let inserted = try await target.importMessages(messages)
            conflicts.forEach { report.record($0) }
            report.messages.inserted += inserted
            report.messages.alreadyPresent += messages.count - inserted
            report.messages.skipped += conflicts.count
            progress(.init(phase: .copying, collection: .messages, done: report.messages.read, total: total))
            if !conflicts.isEmpty && options.onConflict == .fail { return false }
            batch = try await following
        }
        progress(
            .init(phase: .copying, collection: .messages, done: report.messages.read, total: total, finished: true)
        )
        return true
    }

    /// The key to read the next page after: the last record's id.
    private func cursor<Record>(of batch: [ExportedRecord<Record>]) throws -> ObjectID? {
        guard let last = batch.last else { return nil }
        switch last {
        case .valid(let user as UserRecord): return user.user.id
        case .valid(let message as Message): return message.id
        case .valid: preconditionFailure("only users and messages are copied")
        case .invalid(let id, _):
            guard let id = ObjectID(id) else { throw CopyError.unreadableID(id) }
            return id
        }
    }
}

/// Why a copy could not go on.
public enum CopyError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A source record's id is not an ObjectId, so the pages after it cannot be found.
    case unreadableID(String)

    public var description: String {
        switch self {
        case .unreadableID(let id): "the source has a record whose id \"\(id)\" is not an ObjectId"
        }
    }
}
