import ParleyDomain

/// What a copy did to one collection.
public struct CollectionCopyReport: Sendable, Hashable {
    /// Records in the source when the copy started.
    public var sourceCount = 0
    /// Records in the target when the copy started.
    public var targetCount = 0
    /// Source records read in this run.
    public var read = 0
    /// Records this run wrote to the target.
    public var inserted = 0
    /// Records the target had already (an earlier run, or the same data copied before).
    public var alreadyPresent = 0
    /// Records left behind because of a conflict.
    public var skipped = 0

    public init() {}
}

/// What a copy did, and what it found.
public struct CopyReport: Sendable {
    public enum Outcome: Sendable, Hashable {
        /// Everything that could be copied was (conflicts, if any, were skipped).
        case completed
        /// A dry run: nothing was written.
        case dryRun
        /// Conflicts were found before writing and the policy is `fail`: nothing was written.
        case refused
        /// A conflict appeared while writing (a live target changed) and the policy is `fail`:
        /// the batches before it were written; running again resumes.
        case stopped
    }

    public var outcome: Outcome = .completed
    public var users = CollectionCopyReport()
    public var messages = CollectionCopyReport()
    public var groups = CollectionCopyReport()
    public var groupMessages = CollectionCopyReport()
    /// Members' read positions in groups that moved on the target.
    public var readPositions = 0
    /// Logged-out tokens not yet expired: read from the source, and new to the target.
    public var tokenRevocations = (read: 0, inserted: 0)
    /// The message after which this run resumed an earlier one.
    public var resumedAfter: ObjectID?
    /// The first ``maximumListedConflicts`` conflicts; ``conflictCount`` has them all.
    public private(set) var conflicts: [CopyConflict] = []
    public private(set) var conflictCount = 0

    /// Conflicts kept in memory for the report; beyond this they are only counted.
    public static let maximumListedConflicts = 1000

    public init() {}

    public mutating func record(_ conflict: CopyConflict) {
        conflictCount += 1
        if conflicts.count < Self.maximumListedConflicts { conflicts.append(conflict) }
    }

    public subscript(collection: CopyCollection) -> CollectionCopyReport {
        get {
            switch collection {
            case .users: users
            case .messages: messages
            case .groups: groups
            case .groupMessages: groupMessages
            }
        }
        set {
            switch collection {
            case .users: users = newValue
            case .messages: messages = newValue
            case .groups: groups = newValue
            case .groupMessages: groupMessages = newValue
            }
        }
    }
}
