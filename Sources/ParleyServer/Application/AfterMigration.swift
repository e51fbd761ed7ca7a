import ServiceLifecycle
import Synchronization

/// Opens once the store's schema is migrated (the server migrates it just before it starts
/// listening, while the services already run: the PostgreSQL client must run to migrate).
final class MigrationGate: Sendable {
    private enum State {
        case closed(waiters: [UInt64: CheckedContinuation<Void, Never>], next: UInt64)
        case open
    }

    private let state = Mutex(State.closed(waiters: [:], next: 0))

    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard case .closed(let waiters, _) = state else { return [] }
            state = .open
            return Array(waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns when the gate opens, or at once when the task is cancelled.
    func wait() async {
        let id = state.withLock { state -> UInt64? in
            guard case .closed(let waiters, let next) = state else { return nil }
            state = .closed(waiters: waiters, next: next + 1)
            return next
        }
        guard let id else { return }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state -> Bool in
                    guard case .closed(var waiters, let next) = state, !Task.isCancelled else { return true }
                    // So that `waiters` is the dictionary's only reference, and adding copies nothing.
                    state = .closed(waiters: [:], next: next)
                    waiters[id] = continuation
                    state = .closed(waiters: waiters, next: next)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard case .closed(var waiters, let next) = state else { return nil }
                state = .closed(waiters: [:], next: next)
                let waiter = waiters.removeValue(forKey: id)
                state = .closed(waiters: waiters, next: next)
                return waiter
            }
            waiter?.resume()
        }
    }
}

/// Runs a service that reads the store only once the schema is migrated, so that its first
/// reads do not fail (and warn) on a fresh database; a shutdown before then ends it quietly.
struct AfterMigration<Wrapped: Service>: Service, CustomStringConvertible {
    let gate: MigrationGate
    let service: Wrapped

    var description: String { "\(Wrapped.self)" }

    func run() async throws {
        await cancelWhenGracefulShutdown { await gate.wait() }
        guard !Task.isCancelled, !Task.isShuttingDownGracefully else { return }
        try await service.run()
    }
}
