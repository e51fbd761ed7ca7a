import Logging
import ParleyChat
import ParleyDomain
import Synchronization
import Testing

@Suite("Presence service")
struct PresenceServiceTests {
    /// A registration lost to a database error would leave the user offline to everyone for as
    /// long as they stay connected.
    @Test(.timeLimit(.minutes(1))) func aFailedRegistrationIsMadeAgain() async throws {
        let backend = FlakyPresenceBackend(registrationsFailing: 2)
        try await withService(on: backend) { service in
            let (ann, bob) = (ObjectID(), ObjectID())
            service.deviceConnected(ann)
            service.deviceConnected(bob)
            await backend.waitUntilRegistered([ann, bob])
        }
        #expect(backend.failures == 2)
    }

    /// One that failed would leave a user who left online to everyone.
    @Test(.timeLimit(.minutes(1))) func aFailedUnregistrationIsMadeAgain() async throws {
        let backend = FlakyPresenceBackend(unregistrationsFailing: 1)
        try await withService(on: backend) { service in
            let ann = ObjectID()
            service.deviceConnected(ann)
            await backend.waitUntilRegistered([ann])
            service.deviceDisconnected(ann)
            await backend.waitUntilRegistered([])
        }
        #expect(backend.failures == 1)
    }

    /// What is derived from the online set is kept while its version stays, and only then.
    @Test func theOnlineVersionChangesWithTheOnlineSet() async throws {
        let service = PresenceService(
            backend: FlakyPresenceBackend(), bus: InProcessBus(), grace: .seconds(60), logger: Logger(label: "test"))
        let ann = ObjectID()
        let before = service.onlineUsersVersioned()
        #expect(service.onlineUsersVersioned().version == before.version)
        service.deviceConnected(ann)
        let after = service.onlineUsersVersioned()
        #expect(after.version != before.version && after.users == [ann])
        // A second device changes nothing: nor does the version (every connecting socket would
        // otherwise write the list anew).
        service.deviceConnected(ann)
        #expect(service.onlineUsersVersioned().version == after.version)
    }

    private func withService(
        on backend: FlakyPresenceBackend, _ body: (PresenceService) async throws -> Void
    ) async throws {
        let service = PresenceService(
            backend: backend, bus: InProcessBus(), grace: .milliseconds(1), logger: Logger(label: "test"),
            retryDelay: .milliseconds(1))
        let running = Task { try await service.run() }
        defer { running.cancel() }
        // The service's first reload registers every user it has: over before the test starts.
        var reloads = backend.reloads.makeAsyncIterator()
        _ = await reloads.next()
        try await body(service)
    }
}

/// Registrations kept in memory, the first few calls failing.
private final class FlakyPresenceBackend: PresenceBackend {
    private struct State {
        var registered: Set<ObjectID> = []
        var registrationsFailing: Int
        var unregistrationsFailing: Int
        var failures = 0
        var waiters: [(id: Int, users: Set<ObjectID>, continuation: CheckedContinuation<Void, Never>)] = []
        var nextWaiter = 0
    }

    private struct Refused: Error {}

    private let state: Mutex<State>
    /// An element each time the online users are read: the end of a reload.
    let reloads: AsyncStream<Void>
    private let reloaded: AsyncStream<Void>.Continuation

    init(registrationsFailing: Int = 0, unregistrationsFailing: Int = 0) {
        state = Mutex(
            State(registrationsFailing: registrationsFailing, unregistrationsFailing: unregistrationsFailing))
        (reloads, reloaded) = AsyncStream.makeStream()
    }

    var failures: Int { state.withLock { $0.failures } }

    func register(_ user: ObjectID) async throws {
        try change(unlessFailing: \.registrationsFailing) { $0.registered.insert(user) }
    }

    func unregister(_ user: ObjectID) async throws {
        try change(unlessFailing: \.unregistrationsFailing) { $0.registered.remove(user) }
    }

    func onlineUsers() async throws -> Set<ObjectID> {
        defer { reloaded.yield() }
        return state.withLock { $0.registered }
    }

    /// Returns once exactly `users` are registered, or when cancelled (a test's time limit), and
    /// then checks.
    func waitUntilRegistered(
        _ users: Set<ObjectID>, sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        let id = state.withLock { state in
            defer { state.nextWaiter += 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state in
                    guard state.registered != users, !Task.isCancelled else { return true }
                    state.waiters.append((id, users, continuation))
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                let index = state.waiters.firstIndex { $0.id == id }
                return index.map { state.waiters.remove(at: $0).continuation }
            }
            waiter?.resume()
        }
        #expect(state.withLock { $0.registered } == users, sourceLocation: sourceLocation)
    }

    /// Fails while `failing` counts down, else applies `body`, and lets go of the waiters it
    /// satisfied.
    private func change(unlessFailing failing: WritableKeyPath<State, Int>, _ body: (inout State) -> Void) throws {
        let (done, ready) = state.withLock { state -> (Bool, [CheckedContinuation<Void, Never>]) in
            guard state[keyPath: failing] == 0 else {
                state[keyPath: failing] -= 1
                state.failures += 1
                return (false, [])
            }
            body(&state)
            let registered = state.registered
            let ready = state.waiters.filter { $0.users == registered }.map(\.continuation)
            state.waiters.removeAll { $0.users == registered }
            return (true, ready)
        }
        for waiter in ready { waiter.resume() }
        if !done { throw Refused() }
    }
}
