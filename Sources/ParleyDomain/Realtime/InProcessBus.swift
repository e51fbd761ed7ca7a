import Synchronization

/// The cluster bus of a single instance (SQLite): events go straight to this process's
/// subscribers, in the order they were published.
public final class InProcessBus: ClusterBus {
    private let fanOut = BusFanOut()

    public init() {}

    public func publish(_ event: ClusterEvent) async throws {
        deliver(event)
    }

    /// Publishes synchronously, so a store can publish while it still holds its write order.
    public func deliver(_ event: ClusterEvent) {
        fanOut.deliver(.event(event))
    }

    /// Publishes synchronously, as it is: an event the store kept, at its position.
    public func deliver(_ delivery: BusDelivery) {
        fanOut.deliver(delivery)
    }

    public func subscribe() -> AsyncStream<BusDelivery> {
        fanOut.subscribe()
    }

    public func subscribe(_ handler: @escaping @Sendable (BusDelivery) -> Void) -> BusSubscription {
        fanOut.subscribe(handler)
    }
}

/// Presence for a single instance: the users registered here are everyone online.
public final class InProcessPresence: PresenceBackend {
    private let bus: InProcessBus
    private let users = Mutex<Set<ObjectID>>([])

    public init(bus: InProcessBus) {
        self.bus = bus
    }

    public func register(_ user: ObjectID) async throws {
        let added = users.withLock { $0.insert(user).inserted }
        if added { bus.deliver(.userOnline(user)) }
    }

    public func unregister(_ user: ObjectID) async throws {
        let removed = users.withLock { $0.remove(user) != nil }
        if removed { bus.deliver(.userOffline(user)) }
    }

    public func onlineUsers() async throws -> Set<ObjectID> {
        users.withLock { $0 }
    }
}
