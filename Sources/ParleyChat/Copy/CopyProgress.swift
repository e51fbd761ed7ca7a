import ParleyDomain

/// Where a copy is, for a progress display.
public struct CopyProgress: Sendable, Hashable {
    public enum Phase: String, Sendable, Hashable {
        /// Reading the source for conflicts before writing anything.
        case checking
        case copying
        case verifying
    }

    public var phase: Phase
    public var collection: CopyCollection
    /// Records of `collection` handled so far in this phase.
    public var done: Int
    /// Records expected in this phase (an estimate: a live source keeps growing).
    public var total: Int
    /// Whether this phase of this collection is over.
    public var finished: Bool

    public init(phase: Phase, collection: CopyCollection, done: Int, total: Int, finished: Bool = false) {
        self.phase = phase
        self.collection = collection
        self.done = done
        self.total = total
        self.finished = finished
    }
}
