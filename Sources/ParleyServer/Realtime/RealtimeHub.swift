import HTTPTypes
import Logging
import ParleyChat
import ParleyDomain
import ServiceLifecycle
import SocketIO

/// Parley's realtime layer on the SocketIO module, as a service: it builds the Socket.IO server
/// and wires its three jobs, each in its own type.
///
/// - ``SocketAuthenticator``: sockets are authenticated at CONNECT, from `auth.token` or the
///   `jwt` cookie; requests from other sites' pages are refused (``OriginPolicy``).
/// - ``SocketEventHandlers``: what a socket joins and does, and its client events
///   (`send-message` with the rules of `POST /api/message`, `mark-read`, `typing`,
///   `stop-typing`), within a per-socket rate.
/// - ``RealtimeDelivery``: everything clients hear comes from the cluster bus, so it is the same
///   on every instance.
///
/// ``run()`` delivers bus events until shutdown.
public final class RealtimeHub: Service {
    public let io: SocketIOServer
    private let bus: any ClusterBus
    private let delivery: RealtimeDelivery
    private let handlers: SocketEventHandlers
    /// After each loss of bus events, in turn (see ``SocketEventHandlers/catchUp(_:after:)``).
    private let catchUps: AsyncStream<(SocketNamespace, RecoveryMarks.Gap?)>
    private let catchUpInput: AsyncStream<(SocketNamespace, RecoveryMarks.Gap?)>.Continuation

    public init(
        auth: AuthService,
        messages: MessageService,
        groups: GroupService,
        presence: PresenceService,
        bus: any ClusterBus,
        eventLog: (any EventLog)?,
        sessionSecret: String,
        allowedOrigins: Set<String>,
        trustProxy: Bool,
        settings: RealtimeSettings,
        logger: Logger
    ) {
        var configuration = SocketIOConfiguration()
        configuration.engine.pingInterval = settings.pingInterval
        configuration.engine.pingTimeout = settings.pingTimeout
        configuration.engine.maxSessions = settings.maxConnections
        let sent = SentMessages()
        let signer = settings.recoveryWindow.map { _ in RecoverySessionID.Signer(secret: sessionSecret) }
        var storedRecovery: StoredRecoveryParts?
        if let window = settings.recoveryWindow, let signer {
            // Served by the store when it keeps a history (any instance, after a crash too),
            // else from this instance's memory.
            let store: any SocketRecoveryStore
            if let eventLog {
                let parts = StoredRecoveryParts(log: eventLog, marks: RecoveryMarks(), barrier: BusBarrier(bus: bus))
                storedRecovery = parts
                store = StoredRecovery(
                    log: eventLog, signer: signer, window: window, sent: sent, marks: parts.marks,
                    groupsOf: { user in try await groups.list(of: user) }, logger: logger)
            } else {
                store = RecoverableEvents(
                    memory: InMemoryRecoveryStore(maxDisconnectionDuration: window), signer: signer,
                    groupsOf: { user in try await groups.list(of: user) })
            }
            // The middleware runs for recovered sockets too: a token logged out meanwhile ends there.
            configuration.connectionStateRecovery = ConnectionStateRecovery(
                maxDisconnectionDuration: window, skipMiddlewares: false, store: store)
        }
        let origins = OriginPolicy(allowed: allowedOrigins)
        let io = SocketIOServer(
            path: "/socket.io/",
            configuration: configuration,
            requestCheck: { request in
                origins.allows(origin: request.headers[.origin], host: request.authority)
                    ? .allow : .deny(message: "Origin not allowed")
            },
            sessionBinding: { request in SessionBinding.of(request, trustProxy: trustProxy) }
        )
        let authenticator = SocketAuthenticator(auth: auth, sessionIDs: signer)
        let (catchUps, catchUpInput) = AsyncStream.makeStream(of: (SocketNamespace, RecoveryMarks.Gap?).self)
        let handlers = SocketEventHandlers(
            messages: messages, groups: groups, presence: presence, bus: bus, sent: sent, recovery: storedRecovery,
            settings: settings, logger: logger)
        io.main.use { socket in try await authenticator.authenticate(socket) }
        io.main.onConnection { socket in await handlers.connected(socket) }
        self.io = io
        self.bus = bus
        self.delivery = RealtimeDelivery(
            namespace: io.main, sent: sent, marks: storedRecovery?.marks, barrier: storedRecovery?.barrier,
            resynchronize: { namespace, gap in catchUpInput.yield((namespace, gap)) })
        self.handlers = handlers
        self.catchUps = catchUps
        self.catchUpInput = catchUpInput
    }

    /// Logging out ends the sockets that used that token, on every instance.
    public func endSessions(usingToken token: String) async throws {
        try await bus.publish(.sessionEnded(tokenFingerprint: SessionToken.fingerprint(of: token)))
    }

    /// Delivers bus events to this instance's sockets until shutdown; then closes every
    /// connection (clients reconnect to another instance) and waits for the sockets' disconnect
    /// handlers, so presence is settled before the services after this one stop.
    public func run() async throws {
        // Events are handed on from the bus's own thread: no task switch per event.
        let delivery = self.delivery
        let subscription = bus.subscribe { incoming in
            delivery.deliver(incoming)
        }
        await withDiscardingTaskGroup { group in
            group.addTask { [catchUps, handlers] in
                for await (namespace, gap) in catchUps { await handlers.catchUp(namespace, after: gap) }
            }
            try? await gracefulShutdown()
            catchUpInput.finish()
            group.cancelAll()
        }
        subscription.cancel()
        await io.shutdown()
    }
}
