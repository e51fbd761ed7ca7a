import Logging
import ParleyDomain
import ServiceLifecycle
import Synchronization

/// Presence as users see it: counts each user's devices on this instance, reports a user gone
/// only after their last device has been away for the grace delay (a page reload does not
/// flicker), and keeps the cluster-wide online set from the bus.
///
/// Runs as a service: calls to the ``PresenceBackend`` happen one at a time, in order, from
/// ``run()``, so a quick disconnect-reconnect can never reach the backend out of order.
public final class PresenceService: PresenceReader, Service {
    private enum Command: Sendable {
        case register(ObjectID)
        case unregister(ObjectID)
        case reload
    }

    private struct State {
        /// Devices per user on this instance.
        var devices: [ObjectID: Int] = [:]
        /// Users whose last device left; the generation tells a stale grace timer from a live one.
        var leaving: [ObjectID: Int] = [:]
        var generation = 0
        /// Online anywhere in the cluster (changed through the methods below).
        private(set) var online: Set<ObjectID> = []
        /// Changes whenever `online` does (``PresenceService/onlineUsersVersioned()``).
        private(set) var onlineVersion: UInt64 = 0

        mutating func markOnline(_ user: ObjectID) {
            if online.insert(user).inserted { onlineVersion &+= 1 }
        }

        mutating func markOffline(_ user: ObjectID) {
            if online.remove(user) != nil { onlineVersion &+= 1 }
        }

        mutating func replaceOnline(with users: Set<ObjectID>) {
            guard users != online else { return }
            online = users
            onlineVersion &+= 1
        }
        /// A reload is coming to make up for a failed registration.
        var reloadRetryPending = false
        /// Users whose failed unregistration is coming again.
        var unregisterRetries: Set<ObjectID> = []
        /// Backend calls that failed in a row: the next retry waits longer.
        var failuresInARow = 0
    }

    private let backend: any PresenceBackend
    private let bus: any ClusterBus
    /// How long a user stays online after their last device disconnects.
    public let grace: Duration
    private let logger: Logger
    /// How long after a failed backend call it is tried again.
    private let retryDelay: Duration
    private let state = Mutex(State())
    private let commands: AsyncStream<Command>
    private let commandInput: AsyncStream<Command>.Continuation

    public init(
        backend: any PresenceBackend, bus: any ClusterBus, grace: Duration, logger: Logger,
        retryDelay: Duration = .seconds(1)
    ) {
        self.backend = backend
        self.bus = bus
        self.grace = grace
        self.logger = logger
        self.retryDelay = retryDelay
        (commands, commandInput) = AsyncStream.makeStream(of: Command.self)
    }

    // MARK: Devices

    /// A device of `user` connected to this instance.
    public func deviceConnected(_ user: ObjectID) {
        let first = state.withLock { state in
            state.devices[user, default: 0] += 1
            state.markOnline(user)
            // Back within the grace delay: still registered, nothing to tell anyone.
            let wasLeaving = state.leaving.removeValue(forKey: user) != nil
            return state.devices[user] == 1 && !wasLeaving
        }
        if first { commandInput.yield(.register(user)) }
    }

    /// A device of `user` disconnected from this instance.
    public func deviceDisconnected(_ user: ObjectID) {
        let generation: Int? = state.withLock { state in
            guard let count = state.devices[user] else { return nil }
            if count > 1 {
                state.devices[user] = count - 1
                return nil
            }
            state.devices[user] = nil
            state.generation += 1
            state.leaving[user] = state.generation
            return state.generation
        }
        guard let generation else { return }
        Task { [grace] in
            try? await Task.sleep(for: grace)
            let gone = self.state.withLock { state in
                guard state.leaving[user] == generation else { return false }
                state.leaving[user] = nil
                return true
            }
            if gone { self.commandInput.yield(.unregister(user)) }
        }
    }

    /// Devices connected to this instance (for metrics).
    public var localDeviceCount: Int { state.withLock { $0.devices.values.reduce(0, +) } }

    // MARK: PresenceReader

    public func onlineUsers() async -> Set<ObjectID> {
        state.withLock { $0.online }
    }

    /// Everyone online, with a number that changes whenever the set may have: what is derived
    /// from the set can be kept for as long as the number stays (the `online-users` list every
    /// connecting socket gets).
    public func onlineUsersVersioned() -> (version: UInt64, users: Set<ObjectID>) {
        state.withLock { ($0.onlineVersion, $0.online) }
    }

    public func isOnline(_ user: ObjectID) -> Bool {
        state.withLock { $0.online.contains(user) }
    }

    // MARK: Service

    public func run() async throws {
        // Handled on the bus's own thread: every message event passes here too, to be ignored.
        let subscription = bus.subscribe { [weak self] delivery in
            self?.handle(delivery)
        }
        defer { subscription.cancel() }
        commandInput.yield(.reload)
        for await command in commands.cancelOnGracefulShutdown() {
            await perform(command)
        }
    }

    private func handle(_ delivery: BusDelivery) {
        switch delivery {
        case .event(.userOnline(let user)):
            state.withLock { $0.markOnline(user) }
        case .event(.userOffline(let user)):
            state.withLock { state in
                // A device here means the user is online whatever another instance says.
                if state.devices[user] == nil, state.leaving[user] == nil { state.markOffline(user) }
            }
        case .resynchronized:
            commandInput.yield(.reload)
        case .event, .stored:
            break
        }
    }

    private func perform(_ command: Command) async {
        do {
            switch command {
            case .register(let user):
                try await backend.register(user)
            case .unregister(let user):
                // Reconnected since the grace timer fired: keep the registration. (Left again
                // meanwhile: that departure's own timer unregisters them, in order.)
                let gone = state.withLock { state in
                    state.unregisterRetries.remove(user)
                    return state.devices[user] == nil && state.leaving[user] == nil
                }
                guard gone else { return }
                try await backend.unregister(user)
            case .reload:
                // Registrations may have been lost with the connection (an instance presumed
                // dead is cleaned up by the others): register every local user again.
                state.withLock { $0.reloadRetryPending = false }
                let local = state.withLock { Array($0.devices.keys) + Array($0.leaving.keys) }
                for user in local { try await backend.register(user) }
                let online = try await backend.onlineUsers()
                state.withLock { state in
                    state.replaceOnline(with: online.union(state.devices.keys).union(state.leaving.keys))
                }
            }
            state.withLock { $0.failuresInARow = 0 }
        } catch {
            retry(command, after: error)
        }
    }

    /// A registration that failed would leave its user offline to everyone while connected
    /// (until a reload), and an unregistration online while gone: each is tried again, for as
    /// long as it fails, after ``retryDelay`` doubled for each failure in a row (at most 32
    /// times it). A registration or a reload is tried again as a reload, which registers every
    /// local user: one pending reload stands for all of them, and one unregistration per user.
    private func retry(_ command: Command, after error: any Error) {
        let (again, failures): (Command?, Int) = state.withLock { state in
            state.failuresInARow += 1
            switch command {
            case .register, .reload:
                guard !state.reloadRetryPending else { return (nil, state.failuresInARow) }
                state.reloadRetryPending = true
                return (.reload, state.failuresInARow)
            case .unregister(let user):
                guard state.unregisterRetries.insert(user).inserted else { return (nil, state.failuresInARow) }
                return (.unregister(user), state.failuresInARow)
            }
        }
        guard let again else { return }
        let delay = retryDelay * (1 << min(failures - 1, 5))
        logger.warning("Presence update failed; trying again", metadata: ["error": "\(error)", "retry.in": "\(delay)"])
        Task { [commandInput] in
            try? await Task.sleep(for: delay)
            commandInput.yield(again)
        }
    }
}
