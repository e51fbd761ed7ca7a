import NIOConcurrencyHelpers
import NIOCore

/// One client in one namespace.
///
/// Handlers registered with ``on(_:_:)`` run one at a time, in the order the client's events
/// arrived, after the namespace's connection handler. Every method may be called from anywhere.
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
    let events = SocketEventQueue()

    private struct State {
        var connected = false
        var disconnected = false
        var handlers: [String: EventHandler] = [:]
        var gate: EventGate?
        var disconnectHandlers: [DisconnectHandler] = []
        var pendingAcks: [Int64: PendingAck] = [:]
        var nextAckID: Int64 = 0
        var data: [String: any Sendable] = [:]
    }

    private typealias PendingAck = (CheckedContinuation<[SocketValue], any Error>, Scheduled<Void>?)

    private let state = NIOLockedValueBox(State())

    init(id: String, namespace: SocketNamespace, handshake: SocketHandshake, client: SocketIOClient) {
        self.id = id
        self.namespace = namespace
        self.handshake = handshake
        self.client = client
    }

    /// Whether the socket is in its namespace (connected and not yet disconnected).
    public var isConnected: Bool {
        state.withLockedValue { $0.connected && !$0.disconnected }
    }

    // MARK: Data

    /// Per-socket values the application keeps (set in middleware, read in handlers).
    public subscript(data key: String) -> (any Sendable)? {
        get { state.withLockedValue { $0.data[key] } }
        set { state.withLockedValue { $0.data[key] = newValue } }
    }

    // MARK: Handlers

    /// Handles the client's `event`. A later registration for the same event replaces this one.
    public func on(_ event: String, _ handler: @escaping EventHandler) {
        state.withLockedValue { $0.handlers[event] = handler }
    }

    /// Runs when the socket leaves the namespace, after its queued events.
    public func onDisconnect(_ handler: @escaping DisconnectHandler) {
        state.withLockedValue { $0.disconnectHandlers.append(handler) }
    }

    /// Events received but not handled yet.
    public var pendingEvents: Int { events.backlog }

    /// Sets the gate every incoming event passes before it is queued for its handler.
    public func setEventGate(_ gate: @escaping EventGate) {
        state.withLockedValue { $0.gate = gate }
    }

    // MARK: Emitting

    /// Sends `event` to this client.
    public func emit(_ event: String, _ arguments: SocketValue...) {
        emit(event, arguments: arguments)
    }

    public func emit(_ event: String, arguments: [SocketValue]) {
        guard !SocketPacket.reservedEvents.contains(event) else {
            assertionFailure("\"\(event)\" is a reserved event name")
            return
        }
        guard isConnected else { return }
        client.send(SocketPacket(kind: .event, namespace: namespace.name, data: .array([.string(event)] + arguments)))
    }

    /// Sends `event` and waits for the client's acknowledgement.
    /// - Throws: ``AcknowledgementError`` when it does not come within `timeout` or the socket
    ///   disconnects first.
    public func emitWithAck(_ event: String, _ arguments: SocketValue..., timeout: Duration) async throws
        -> [SocketValue]
    {
        try await emitWithAck(event, arguments: arguments, timeout: timeout)
    }

    public func emitWithAck(_ event: String, arguments: [SocketValue], timeout: Duration) async throws
        -> [SocketValue]
    {
        try await withCheckedThrowingContinuation { continuation in
            let id: Int64? = state.withLockedValue { state in
                guard state.connected, !state.disconnected else { return nil }
                let id = state.nextAckID
                state.nextAckID += 1
                state.pendingAcks[id] = (continuation, nil)
                return id
            }
            guard let id else {
                continuation.resume(throwing: AcknowledgementError.disconnected)
                return
            }
            let timer = client.session.eventLoop.scheduleTask(in: TimeAmount(timeout)) { [self] in
                resolveAck(id, with: .failure(AcknowledgementError.timedOut))
            }
            state.withLockedValue { state in
                if state.pendingAcks[id] != nil { state.pendingAcks[id]?.1 = timer } else { timer.cancel() }
            }
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
        namespace.join(self, rooms: rooms)
    }

    public func join(_ rooms: some Sequence<String>) {
        namespace.join(self, rooms: rooms)
    }

    public func leave(_ room: String) {
        namespace.leave(self, room: room)
    }

    public var rooms: Set<String> { namespace.rooms(of: self) }

    // MARK: Disconnecting

    /// Removes the socket from its namespace (the client is told); with `closeConnection`, closes
    /// the whole connection, and so every namespace on it.
    public func disconnect(closeConnection: Bool = false) {
        if closeConnection {
            client.session.close(reason: .forcedClose)
        } else {
            client.disconnect(self)
        }
    }

    // MARK: Called by the client connection

    func markConnected() {
        state.withLockedValue { $0.connected = true }
    }

    func receiveEvent(_ arguments: [SocketValue], ackID: Int64?) {
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
            client.session.close(reason: .forcedClose)
            return
        }
        guard events.backlog < client.maxPendingEvents else {
            client.session.close(reason: .forcedClose)
            return
        }
        let arguments = Array(arguments.dropFirst())
        events.enqueue { [self] in
            guard let handler = state.withLockedValue({ $0.handlers[name] }) else { return }
            await handler(arguments, ack)
        }
    }

    func receiveAck(_ arguments: [SocketValue], id: Int64) {
        resolveAck(id, with: .success(arguments))
    }

    private func resolveAck(_ id: Int64, with result: Result<[SocketValue], any Error>) {
        let entry: PendingAck? = state.withLockedValue {
            $0.pendingAcks.removeValue(forKey: id)
        }
        guard let (continuation, timer) = entry else { return }
        timer?.cancel()
        continuation.resume(with: result)
    }

    /// The event loop this socket's connection lives on (for timers tied to the socket).
    public var eventLoop: any EventLoop { client.session.eventLoop }

    /// The socket left its namespace: fail pending acknowledgements, run disconnect handlers.
    func disconnected(_ reason: SocketDisconnectReason) {
        let (wasConnected, acks, handlers) = state.withLockedValue {
            state -> (Bool, [PendingAck], [DisconnectHandler]) in
            guard !state.disconnected else { return (false, [], []) }
            state.disconnected = true
            let acks = Array(state.pendingAcks.values)
            state.pendingAcks = [:]
            return (state.connected, acks, state.disconnectHandlers)
        }
        namespace.remove(self)
        for (continuation, timer) in acks {
            timer?.cancel()
            continuation.resume(throwing: AcknowledgementError.disconnected)
        }
        guard wasConnected else { return }
        events.enqueue {
            for handler in handlers { await handler(reason) }
        }
    }
}

/// What an ``Socket/EventGate`` decides about an incoming event.
public enum EventGateDecision: Sendable {
    /// Queue it for its handler.
    case accept
    /// Drop it; if the client asked for an acknowledgement, send it these arguments instead.
    case refuse(acknowledgeWith: [SocketValue])
    /// Close the client's connection.
    case disconnect
}
