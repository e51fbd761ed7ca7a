import Synchronization

/// Hands each bus delivery to every current subscriber, in order. Shared by the bus
/// implementations.
public final class BusFanOut: Sendable {
    private let subscribers = Mutex<[Int: AsyncStream<BusDelivery>.Continuation]>([:])
    private let nextID = Atomic<Int>(0)

    public init() {}

    public func subscribe() -> AsyncStream<BusDelivery> {
        let id = nextID.add(1, ordering: .relaxed).newValue
        // A subscriber that stops reading loses the oldest events rather than growing memory.
        let (stream, continuation) = AsyncStream.makeStream(
            of: BusDelivery.self, bufferingPolicy: .bufferingNewest(100_000))
        continuation.onTermination = { [weak self] _ in
            _ = self?.subscribers.withLock { $0.removeValue(forKey: id) }
        }
        subscribers.withLock { $0[id] = continuation }
        return stream
    }

    public func deliver(_ delivery: BusDelivery) {
        subscribers.withLock { subscribers in
            for continuation in subscribers.values { continuation.yield(delivery) }
        }
    }

    /// Ends every subscription.
    public func finish() {
        let all = subscribers.withLock { subscribers in
            defer { subscribers = [:] }
            return Array(subscribers.values)
        }
        for continuation in all { continuation.finish() }
    }
}
