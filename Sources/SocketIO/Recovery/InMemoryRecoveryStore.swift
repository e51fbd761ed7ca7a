import NIOConcurrencyHelpers

/// The default ``SocketRecoveryStore``: this process's memory, bounded in sessions and packets
/// (see ``RecoveryBuffer``). A client recovers only on the process it was connected to.
public final class InMemoryRecoveryStore: SocketRecoveryStore {
    private let buffer: NIOLockedValueBox<RecoveryBuffer>
    private let now: @Sendable () -> ContinuousClock.Instant

    /// - Parameters:
    ///   - maxSessions: most disconnected sessions kept (the oldest goes first).
    ///   - maxPackets: most broadcasts kept; a client whose offset has gone cannot recover.
    public convenience init(
        maxDisconnectionDuration: Duration = .seconds(120),
        maxSessions: Int = 100_000,
        maxPackets: Int = 100_000
    ) {
        self.init(
            limits: .init(
                maxDisconnectionDuration: maxDisconnectionDuration, maxSessions: maxSessions, maxPackets: maxPackets),
            now: { .now })
    }

    init(limits: RecoveryBuffer.Limits, now: @escaping @Sendable () -> ContinuousClock.Instant) {
        precondition(limits.maxSessions > 0 && limits.maxPackets > 0, "recovery limits must be positive")
        self.buffer = NIOLockedValueBox(RecoveryBuffer(limits: limits))
        self.now = now
    }

    public func record(_ broadcast: SocketBroadcast, in namespace: String) -> String? {
        let now = now()
        return buffer.withLockedValue { $0.record(broadcast, in: namespace, now: now) }
    }

    /// An offset that replays nothing (see ``RecoveryBuffer/mark(in:now:)``): for a broadcast a
    /// client should be able to recover from but that is not worth keeping.
    public func mark(in namespace: String) -> String {
        let now = now()
        return buffer.withLockedValue { $0.mark(in: namespace, now: now) }
    }

    public func persist(_ session: RecoverableSession) async {
        let now = now()
        buffer.withLockedValue { $0.persist(session, now: now) }
    }

    public func restore(pid: String, offset: String, namespace: String) async -> RecoverableSession? {
        let now = now()
        return buffer.withLockedValue { $0.restore(pid: pid, offset: offset, namespace: namespace, now: now) }
    }

    public func missedPackets(of session: RecoverableSession, after offset: String) async -> [[SocketValue]]? {
        buffer.withLockedValue { $0.missedPackets(of: session, after: offset) }
    }

    /// Sessions and packets held now (for metrics and tests).
    public var counts: (sessions: Int, packets: Int) {
        buffer.withLockedValue { ($0.sessionCount, $0.packetCount) }
    }
}
