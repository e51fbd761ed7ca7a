import ParleyDomain

/// Everything `bus` delivers to a new subscriber while `body` runs: a probe published first
/// marks the start, another after `body` the end (the bus delivers in order).
func heard(on bus: any ClusterBus, during body: () async throws -> Void) async throws -> [BusDelivery] {
    let stream = bus.subscribe()
    var iterator = stream.makeAsyncIterator()
    let (probe, end) = (ObjectID(), ObjectID())
    try await bus.publish(.typing(from: probe, to: probe))
    while let delivery = await iterator.next(), delivery != .event(.typing(from: probe, to: probe)) {}
    try await body()
    try await bus.publish(.stopTyping(from: end, to: end))
    var deliveries: [BusDelivery] = []
    while let delivery = await iterator.next(), delivery != .event(.stopTyping(from: end, to: end)) {
        deliveries.append(delivery)
    }
    return deliveries
}
