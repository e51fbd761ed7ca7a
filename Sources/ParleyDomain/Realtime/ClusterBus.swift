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
    /// The bus lost its connection and is back: events may have been missed, so state derived
    /// from them (the online set) must be reloaded.
    case resynchronized
}
