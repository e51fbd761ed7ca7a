import ParleyDomain

/// What `parley copy` does when a record cannot be copied as it is.
public enum ConflictPolicy: String, Sendable, CaseIterable {
    /// Report every conflict and write nothing (the default): the user fixes the data first.
    case fail
    /// Copy everything else and report what was left behind.
    case skip
}

/// How a ``StoreCopier`` runs.
public struct CopyOptions: Sendable {
    /// Records read and written per round trip; bounds memory, whatever the size of the store.
    public var batchSize: Int
    public var onConflict: ConflictPolicy
    /// Count and look for conflicts without writing anything.
    public var dryRun: Bool
    /// Go through every message instead of resuming after the target's newest one (after fixing
    /// conflicts that a `skip` run left behind).
    public var fullPass: Bool

    public init(batchSize: Int = 5000, onConflict: ConflictPolicy = .fail, dryRun: Bool = false, fullPass: Bool = false)
    {
        self.batchSize = batchSize
        self.onConflict = onConflict
        self.dryRun = dryRun
        self.fullPass = fullPass
    }
}

/// The two collections a copy moves, in the order it moves them.
public enum CopyCollection: String, Sendable, Hashable, CaseIterable {
    case users
    case messages
    case groups
    case groupMessages = "group messages"
}
