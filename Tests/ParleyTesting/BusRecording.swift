import ParleyDomain

/// Everything `bus` delivers to a new subscriber while `body` runs: a probe heard first marks
/// the start, another after `body` the end (the bus delivers in order).
///
/// The start probe is published again every 100 ms until it is heard: a store that has just
/// started may not be listening yet, and a notification sent before it listens is gone.
func heard(on bus: any ClusterBus, during body: () async throws -> Void) async throws -> [BusDelivery] {
    let stream = bus.subscribe()
    var iterator = stream.makeAsyncIterator()
    let (probe, end) = (ObjectID(), ObjectID())
    let started = BusDelivery.event(.typing(from: probe, to: probe))
    let probing = Task {
        while !Task.isCancelled {
            try? await bus.publish(.typing(from: probe, to: probe))
            try? await Task.sleep(for: .milliseconds(100))
        }
    }
    while let delivery = await iterator.next(), delivery != started {}
    probing.cancel()
    _ = await probing.value
    try await body()
    try await bus.publish(.stopTyping(from: end, to: end))
    var deliveries: [BusDelivery] = []
    while let delivery = await iterator.next(), delivery != .event(.stopTyping(from: end, to: end)) {
        if delivery != started { deliveries.append(delivery) }
    }
    return deliveries
}
