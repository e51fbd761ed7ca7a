import EventLoopExecutor
import NIOConcurrencyHelpers
import NIOCore

/// One client in one namespace.
///
/// Handlers registered with ``on(_:_:)`` run one at a time, in the order the client's events
/// arrived, after the namespace's connection handler; disconnect handlers run last, even when
/// the client left before the connection handler had registered them. Once a socket has
/// disconnected and its handlers have run, it lets go of them (they usually capture the socket),
/// so nothing outlives the connection. Every method may be called from anywhere.
public final class Socket: Sendable, Identifiable {
    public typealias EventHandler = @Sendable (_ arguments: [SocketValue], _ ack: Acknowledgement?) async -> Void
    public typealias DisconnectHandler = @Sendable (SocketDisconnectReason) async -> Void
    /// Decides about each event as it arrives, before it is queued (flood control).
    public typealias EventGate = @Sendable (_ event: String) -> EventGateDecision

    /// The socket id; also the name of a room holding only this socket.
    public let id: String
    public let namespace: SocketNamespace
    public let handshake: SocketHandshake
    let client: SocketIOClient
    let events: SocketEventQueue

    private struct State {
        var connected = false
        var disconnected = false
        var handlers: [String: EventHandler] = [:]
        var gate: EventGate?
        var disconnectHandlers: [DisconnectHandler] = []
        var acks = AcknowledgementTable<PendingAck>()
        var data: [ObjectIdentifier: any Sendable] = [:]
        /// Rooms joined before the socket was in its namespace (in middleware).
        var earlyRooms: [String] = []
        var disconnectReason: SocketDisconnectReason?
        var pid: String?
        var recovered = false
    }

    private typealias PendingAck = (CheckedContinuation<[SocketValue], any Error>, Scheduled<Void>?)

    private let state = NIOLockedValueBox(State())

    /// - Parameter pid: the private session id, with connection-state recovery.
    init(id: String, pid: String? = nil, namespace: SocketNamespace, handshake: SocketHandshake, client: SocketIOClient)
    {
        self.id = id
        self.namespace = namespace
        self.handshake = handshake
        self.client = client
        self.events = SocketEventQueue(executor: EventLoopTaskExecutor(client.session.eventLoop))
        state.withLockedValue { $0.pid = pid }
    }

    /// The socket of a recovered session: its id, rooms (joined as it connects) and data.
    convenience init(
        recovering session: RecoverableSession, namespace: SocketNamespace, handshake: SocketHandshake,
        client: SocketIOClient
    ) {
        self.init(id: session.sid, pid: session.pid, namespace: namespace, handshake: handshake, client: client)
        state.withLockedValue { state in
            state.recovered = true
            state.data = session.data.values
            state.earlyRooms = session.rooms.filter { $0 != session.sid }.sorted()
        }
    }

    /// Whether this socket is one that connection-state recovery gave back (its id, rooms and
    /// data as they were, and the events it missed sent before anything new).
    public var recovered: Bool { state.withLockedValue { $0.recovered } }

    /// The private session id the client presents to recover, with connection-state recovery.
    var pid: String? { state.withLockedValue { $0.pid } }

    /// The store could not replay what the socket missed: it carries on as a new session,
    /// under `pid`.
    func recoveryFailed(pid: String) {
        state.withLockedValue { state in
            state.recovered = false
            state.pid = pid
        }
    }

    /// A socket that connects anew in place of `other`, a recovered one that cannot have its id
    /// (another socket has it): `other`'s handshake and data (its middleware ran), a new id.
    convenience init(replacing other: Socket) {
        self.init(
            id: SessionID.make(), pid: other.pid, namespace: other.namespace, handshake: other.handshake,
            client: other.client)
        let data = other.data.values
        state.withLockedValue { $0.data = data }
    }

    /// The private session id the recovery store gives a socket that connects anew.
    func assignSessionID(_ pid: String) {
        state.withLockedValue { $0.pid = pid }
    }

    /// Everything set with ``subscript(data:)``.
    var data: SocketData { SocketData(values: state.withLockedValue { $0.data }) }

    /// Whether the socket is in its namespace (connected and not yet disconnected).
    public var isConnected: Bool {
        state.withLockedValue { $0.connected && !$0.disconnected }
    }

    /// The event loop this socket's connection lives on (for timers tied to the socket).
    public var eventLoop: any EventLoop { client.session.eventLoop }

    // MARK: Data

    /// The value the application keeps under `key` (set in middleware, read in handlers); it is
    /// released when the socket has disconnected and its handlers have run.
    public subscript<Key: SocketDataKey>(data key: Key.Type) -> Key.Value? {
        get { state.withLockedValue { $0.data[ObjectIdentifier(key)] as? Key.Value } }
        set { state.withLockedValue { $0.data[ObjectIdentifier(key)] = newValue } }
    }

    // MARK: Handlers

    /// Handles the client's `event`. A later registration for the same event replaces this one.
    public func on(_ event: String, _ handler: @escaping EventHandler) {
        state.withLockedValue { state in
            guard !state.disconnected else { return }
            state.handlers[event] = handler
        }
    }

    /// Runs when the socket leaves the namespace, after its queued events. Registered after the
    /// socket has disconnected, it runs at once (after anything still queued).
    public func onDisconnect(_ handler: @escaping DisconnectHandler) {
        let lateReason: SocketDisconnectReason? = state.withLockedValue { state in
            guard state.disconnected else {
                state.disconnectHandlers.append(handler)
                return nil
            }
            return state.disconnectReason ?? .transportClose
        }
        if let lateReason {
            events.enqueue { await handler(lateReason) }
        }
    }

    /// Sets the gate every incoming event passes before it is queued for its handler.
    public func setEventGate(_ gate: @escaping EventGate) {
        state.withLockedValue { state in
            guard !state.disconnected else { return }
            state.gate = gate
        }
    }

    /// Events received but not handled yet.
    public var pendingEvents: Int { events.backlog }

    // MARK: Emitting

    /// Sends `event` to this client. Reserved names (`connect`, `disconnect`, …) are not sent.
    public func emit(_ event: String, _ arguments: SocketValue...) {
        emit(event, arguments: arguments)
    }

    public func emit(_ event: String, arguments: [SocketValue]) {
        guard !SocketPacket.reservedEvents.contains(event), isConnected else { return }
        client.send(SocketPacket(kind: .event, namespace: namespace.name, data: .array([.string(event)] + arguments)))
    }

    /// Sends `event` and waits for the client's acknowledgement.
    /// - Throws: ``AcknowledgementError`` when it does not come within `timeout`, the socket
    ///   disconnects first, or the event name is reserved.
    public func emitWithAck(_ event: String, _ arguments: SocketValue..., timeout: Duration) async throws
        -> [SocketValue]
    {
        try await emitWithAck(event, arguments: arguments, timeout: timeout)
    }

    public func emitWithAck(_ event: String, arguments: [SocketValue], timeout: Duration) async throws
        -> [SocketValue]
    {
        guard !SocketPacket.reservedEvents.contains(event) else { throw AcknowledgementError.reservedEvent }
        return try await withCheckedThrowingContinuation { continuation in
            let id: Int64? = state.withLockedValue { state in
                guard state.connected, !state.disconnected else { return nil }
                return state.acks.register((continuation, nil))
            }
            guard let id else {
                continuation.resume(throwing: AcknowledgementError.disconnected)
                return
            }
            let timer = client.session.eventLoop.scheduleTask(in: TimeAmount(timeout)) { [self] in
                resolveAck(id, with: .failure(AcknowledgementError.timedOut))
            }
            let waiting = state.withLockedValue { $0.acks.update(id) { $0.1 = timer } }
            if !waiting { timer.cancel() }
            client.send(
                SocketPacket(
                    kind: .event, namespace: namespace.name, id: id, data: .array([.string(event)] + arguments))
            )
        }
    }

    /// Everyone in the namespace but this socket.
    public var broadcast: BroadcastOperator {
        BroadcastOperator(namespace: namespace, rooms: [], exceptRooms: [id])
    }

    /// The sockets in `rooms`, except this one.
    public func to(_ rooms: String...) -> BroadcastOperator {
        broadcast.to(rooms)
    }

    // MARK: Rooms

    public func join(_ rooms: String...) {
        join(rooms)
    }

    public func join(_ rooms: some Sequence<String>) {
        let early = state.withLockedValue { state in
            guard !state.connected else { return false }
            state.earlyRooms.append(contentsOf: rooms)
            return true
        }
        if !early { namespace.join(self, rooms: rooms) }
    }

    public func leave(_ room: String) {
        let early = state.withLockedValue { state in
            guard !state.connected else { return false }
            state.earlyRooms.removeAll { $0 == room }
            return true
        }
        if !early { namespace.leave(self, room: room) }
    }

    public var rooms: Set<String> { namespace.rooms(of: self) }

    // MARK: Disconnecting

    /// Removes the socket from its namespace; the client is told (DISCONNECT) and, as with the
    /// reference server, does not reconnect by itself. With `closeConnection`, every namespace
    /// of the connection is told and the connection is closed.
    public func disconnect(closeConnection: Bool = false) {
        if closeConnection {
            client.disconnectAll()
        } else {
            client.disconnect(self)
        }
    }

    /// Closes the connection this socket is on without telling its namespaces, as a lost
    /// network would (the reference server's `socket.conn.close()`): a stock client reconnects
    /// by itself and, with connection-state recovery, gets back what it missed. Every socket of
    /// the connection leaves with ``SocketDisconnectReason/forcedServerClose``.
    public func closeConnection() {
        client.session.close(reason: .forcedClose)
    }

    // MARK: Called by the client connection

    /// Joined its namespace: rooms joined in middleware take effect.
    func markConnected() -> [String] {
        state.withLockedValue { state in
            state.connected = true
            defer { state.earlyRooms = [] }
            return state.earlyRooms
        }
    }

    func receiveEvent(_ arguments: [SocketValue], ackID: Int64?, byteCount: Int) {
        guard let first = arguments.first else { return }
        let name: String
        switch first {
        case .string(let event): name = event
        case .int(let number): name = String(number)
        case .double(let number): name = String(number)
        default: return
        }
        let ack = ackID.map { id in
            Acknowledgement { [client, namespace] reply in
                client.send(SocketPacket(kind: .ack, namespace: namespace.name, id: id, data: .array(reply)))
            }
        }
        switch state.withLockedValue({ $0.gate })?(name) ?? .accept {
        case .accept:
            break
        case .refuse(let reply):
            ack?.send(reply)
            return
        case .disconnect:
            client.disconnectAll()
            return
        }
        let arguments = Array(arguments.dropFirst())
        let queued = events.enqueue(weight: byteCount, limit: client.queueLimits) { [self] in
            guard let handler = state.withLockedValue({ $0.handlers[name] }) else { return }
            await handler(arguments, ack)
        }
        if !queued {
            // The client sends faster than its handlers run, past the configured bounds.
            client.disconnectAll()
        }
    }

    func receiveAck(_ arguments: [SocketValue], id: Int64) {
        resolveAck(id, with: .success(arguments))
    }

    private func resolveAck(_ id: Int64, with result: Result<[SocketValue], any Error>) {
        let entry: PendingAck? = state.withLockedValue { $0.acks.resolve(id) }
        guard let (continuation, timer) = entry else { return }
        timer?.cancel()
        continuation.resume(with: result)
    }

    /// The socket left its namespace: fail pending acknowledgements; after the queued events,
    /// run the disconnect handlers (read then, so the connection handler's are included) and let
    /// go of every handler and value.
    func disconnected(_ reason: SocketDisconnectReason, onFinished: @escaping @Sendable () -> Void) {
        let acks: [PendingAck]? = state.withLockedValue { state in
            guard !state.disconnected else { return nil }
            state.disconnected = true
            state.disconnectReason = reason
            return state.acks.removeAll()
        }
        guard let acks else { return }
        namespace.remove(self)
        for (continuation, timer) in acks {
            timer?.cancel()
            continuation.resume(throwing: AcknowledgementError.disconnected)
        }
        events.enqueue { [self] in
            let (wasConnected, handlers) = state.withLockedValue { state in
                defer { state.disconnectHandlers = [] }
                return (state.connected, state.disconnectHandlers)
            }
            if wasConnected {
                for handler in handlers { await handler(reason) }
            }
            state.withLockedValue { state in
                state.handlers = [:]
                state.gate = nil
                state.disconnectHandlers = []
                state.data = [:]
            }
            onFinished()
        }
    }
}

/// What an ``Socket/EventGate`` decides about an incoming event.
public enum EventGateDecision: Sendable {
    /// Queue it for its handler.
    case accept
    /// Drop it; if the client asked for an acknowledgement, send it these arguments instead.
    case refuse(acknowledgeWith: [SocketValue])
    /// Disconnect the client (it is told, and does not reconnect by itself).
    case disconnect
}
