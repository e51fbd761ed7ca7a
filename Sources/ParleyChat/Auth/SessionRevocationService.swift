import Logging
import ParleyDomain
import ServiceLifecycle

/// Keeps this instance's ``SessionRevocationList`` up to date, so that a token logged out on any
/// instance is refused here within a bounded delay:
///
/// - at once, from the cluster bus (`session-ended`, `sessions-revoked`), when it delivers;
/// - within ``pollInterval`` in any case, from the store, which every instance reads for the
///   revocations recorded lately (with an overlap, so a revocation committed late is not missed):
///   a bus that lost its connection for a while cannot leave a revoked token usable.
///
/// It also forgets, once an hour, token revocations whose tokens have expired anyway.
public struct SessionRevocationService: Service {
    /// The longest a revocation made on another instance may take to reach this one.
    public static let pollInterval = Duration.seconds(2)
    /// Each poll reads back this far before the previous one.
    static let pollOverlap: Int64 = 10_000

    let store: any TokenRevocations
    let bus: any ClusterBus
    let list: SessionRevocationList
    let logger: Logger

    public func run() async throws {
        let subscription = bus.subscribe { [list] delivery in
            switch delivery {
            case .event(.sessionEnded(let fingerprint)): list.add(.token(fingerprint: fingerprint))
            case .event(.sessionsRevoked(let user, let upTo)): list.add(.sessions(of: user, upTo: upTo))
            default: break
            }
        }
        defer { subscription.cancel() }
        var since = Timestamp.now().adding(milliseconds: -Self.pollOverlap)
        var lastPrune = ContinuousClock.Instant.now - .seconds(3600)
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                let polled = Timestamp.now()
                for revocation in try await store.revocations(since: since) { list.add(revocation) }
                since = polled.adding(milliseconds: -Self.pollOverlap)
                if ContinuousClock.now - lastPrune > .seconds(3600) {
                    try await store.pruneTokenRevocations(expiredBefore: .now())
                    lastPrune = .now
                }
            } catch {
                logger.warning("Could not read session revocations", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: Self.pollInterval)
        }
    }
}
