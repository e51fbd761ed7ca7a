import ServiceLifecycle
import Synchronization

/// A database backend: users and messages, and the realtime plumbing that goes with them (the
/// cluster bus and presence), run as a service for the life of the server.
///
/// `run()` owns the backend's connections (a pool, a LISTEN connection, heartbeats) and returns
/// once graceful shutdown has closed them. After ``insertMessage(_:)`` returns, a
/// ``ClusterEvent/messageCreated(_:)`` reaches every instance through ``bus``, in the order
/// messages of a conversation were stored.
public protocol ChatStore: UserRepository, MessageRepository, GroupRepository, GroupMessageRepository, TokenRevocations,
    Service
{
    /// Carries events between instances (in process for a single-instance store).
    var bus: any ClusterBus { get }

    /// Shared presence of every instance on this store.
    var presence: any PresenceBackend { get }

    /// Whether several server instances can share this store.
    var supportsClustering: Bool { get }

    /// Services the store needs running while it runs, listed before it so that they stop after
    /// it (a connection pool that the store's own shutdown still uses).
    var supportingServices: [any Service] { get }

    /// What must run for ``migrate()`` to work (for `parley migrate`, which serves nothing).
    var servicesForMigration: [any Service] { get }

    /// The history of what users heard, for connection-state recovery on any instance; `nil`
    /// when the store keeps none (recovery then works on the instance a client was on only).
    var eventLog: (any EventLog)? { get }

    /// Names the backend and where it is, for logs (never includes a password).
    var displayName: String { get }

    /// Brings the schema up to date. Safe to call twice and from two instances at once.
    func migrate() async throws

    /// Throws when the database cannot answer a trivial query right now.
    func checkReadiness() async throws
}

extension ChatStore {
    public var supportingServices: [any Service] { [] }

    public var eventLog: (any EventLog)? { nil }

    /// The store and everything it needs, in start order.
    public var services: [any Service] { supportingServices + [self] }

    public var servicesForMigration: [any Service] { services }
}

/// Opens once; everyone waiting (and everyone who asks later) then proceeds. A store uses it so
/// that background work (heartbeats, presence) waits for its schema.
public final class ReadinessGate: Sendable {
    private enum State {
        case closed([CheckedContinuation<Void, Never>])
        case open
    }

    private let state = Mutex(State.closed([]))

    public init() {}

    public func open() {
        let waiting: [CheckedContinuation<Void, Never>] = state.withLock { state in
            guard case .closed(let waiting) = state else { return [] }
            state = .open
            return waiting
        }
        for continuation in waiting { continuation.resume() }
    }

    public func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                guard case .closed(var waiting) = state else { return true }
                // So that `waiting` is the array's only reference, and appending copies nothing.
                state = .closed([])
                waiting.append(continuation)
                state = .closed(waiting)
                return false
            }
            if ready { continuation.resume() }
        }
    }
}
