import Synchronization

/// Hands each bus delivery to every current subscriber, in order. Shared by the bus
/// implementations.
public final class BusFanOut: Sendable {
    private struct Subscribers {
        var streams: [Int: AsyncStream<BusDelivery>.Continuation] = [:]
        var handlers: [Int: @Sendable (BusDelivery) -> Void] = [:]
        var nextID = 0

        mutating func makeID() -> Int {
            defer { nextID += 1 }
            return nextID
        }
    }

    private let subscribers = Mutex(Subscribers())

    public init() {}

    public func subscribe() -> AsyncStream<BusDelivery> {
        // A subscriber that stops reading loses the oldest events rather than growing memory.
        let (stream, continuation) = AsyncStream.makeStream(
            of: BusDelivery.self, bufferingPolicy: .bufferingNewest(100_000))
        let id = subscribers.withLock { subscribers in
            let id = subscribers.makeID()
            subscribers.streams[id] = continuation
            return id
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.streams.removeValue(forKey: id) }
        }
        return stream
    }

    /// Calls `handler` with every delivery, in order, from the thread that delivers it, until the
    /// subscription is cancelled. `handler` must be quick and must not use the bus.
    public func subscribe(_ handler: @escaping @Sendable (BusDelivery) -> Void) -> BusSubscription {
        let id = subscribers.withLock { subscribers in
            let id = subscribers.makeID()
            subscribers.handlers[id] = handler
            return id
        }
        return BusSubscription { [weak self] in
            _ = self?.subscribers.withLock { $0.handlers.removeValue(forKey: id) }
        }
    }

    public func deliver(_ delivery: BusDelivery) {
        subscribers.withLock { subscribers in
            for continuation in subscribers.streams.values { continuation.yield(delivery) }
            for handler in subscribers.handlers.values { handler(delivery) }
        }
    }

    /// Ends every subscription.
    public func finish() {
        let streams = subscribers.withLock { subscribers in
            defer {
                subscribers.streams = [:]
                subscribers.handlers = [:]
            }
            return Array(subscribers.streams.values)
        }
        for continuation in streams { continuation.finish() }
    }
}

/// A handler's subscription to a bus; deliveries stop once it is cancelled.
public final class BusSubscription: Sendable {
    private let onCancel: Mutex<(@Sendable () -> Void)?>

    init(onCancel: @escaping @Sendable () -> Void) {
        self.onCancel = Mutex(onCancel)
    }

    public func cancel() {
        let cancel = onCancel.withLock { onCancel in
            defer { onCancel = nil }
            return onCancel
        }
        cancel?()
    }

    deinit {
        cancel()
    }
}
