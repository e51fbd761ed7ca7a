/// The acknowledgements a socket waits for from its client: an id per emitted event, handed out
/// in order, each answered at most once (an ack for an unknown or answered id is ignored), all
/// failed together when the socket leaves.
struct AcknowledgementTable<Pending> {
    private var pending: [Int64: Pending] = [:]
    private var nextID: Int64 = 0

    /// Waits for an acknowledgement; returns the id to send with the event.
    mutating func register(_ value: Pending) -> Int64 {
        let id = nextID
        // Ids stay non-negative, as the wire format has them.
        nextID = nextID == .max ? 0 : nextID + 1
        pending[id] = value
        return id
    }

    /// Changes what waits for `id`, if it still waits (a timer armed after registering).
    /// - Returns: whether it was still waiting.
    @discardableResult
    mutating func update(_ id: Int64, _ body: (inout Pending) -> Void) -> Bool {
        guard var value = pending[id] else { return false }
        body(&value)
        pending[id] = value
        return true
    }

    /// The acknowledgement for `id` arrived (or timed out): what waited for it, once.
    mutating func resolve(_ id: Int64) -> Pending? {
        pending.removeValue(forKey: id)
    }

    /// Everything still waiting, for failing when the socket leaves.
    mutating func removeAll() -> [Pending] {
        defer { pending = [:] }
        return Array(pending.values)
    }

    var count: Int { pending.count }
}

extension AcknowledgementTable: Sendable where Pending: Sendable {}
