/// Carries ``ClusterEvent``s to every instance of the server, this one included.
///
/// PostgreSQL implements it with LISTEN/NOTIFY; SQLite (one instance) in process.
public protocol ClusterBus: Sendable {
    /// Sends `event` to every instance. Message events are published by the store, not here.
    func publish(_ event: ClusterEvent) async throws

    /// What arrives from the bus, in order, for as long as the caller iterates.
    func subscribe() -> AsyncStream<BusDelivery>

    /// Calls `handler` with what arrives from the bus, in order, on the bus's own thread, until
    /// the subscription is cancelled: no task switch per event, for subscribers that only hand
    /// events on. `handler` must be quick and must not use the bus.
    func subscribe(_ handler: @escaping @Sendable (BusDelivery) -> Void) -> BusSubscription
}

/// One delivery from the bus.
public enum BusDelivery: Sendable, Hashable {
    case event(ClusterEvent)
    /// An event the store keeps for connection-state recovery, at its position in its users'
    /// history (see ``EventLog``).
    case stored(StoredEvent)
    /// The bus lost its connection and is back: events may have been missed, so state derived
    /// from them (the online set) must be reloaded.
    case resynchronized
}

extension BusDelivery {
    /// The event delivered, stored or not; `nil` for ``resynchronized``.
    public var event: ClusterEvent? {
        switch self {
        case .event(let event): event
        case .stored(let stored): stored.event
        case .resynchronized: nil
        }
    }

    /// Decodes an event's wire form, ``stored(_:)`` when it carries a position.
    public init?(encoded text: String) {
        var position: Int64?
        guard let event = ClusterEvent(encoded: text, position: &position) else { return nil }
        self = position.map { .stored(StoredEvent(event: event, position: $0)) } ?? .event(event)
    }
}
