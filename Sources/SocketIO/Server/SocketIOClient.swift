import NIOCore

/// The Socket.IO side of one Engine.IO connection: decodes packets, multiplexes namespaces,
/// enforces the connect timeout, and closes the connection on any protocol violation.
///
/// Lives on its session's event loop (it is the session's delegate); ``send(_:)``,
/// ``disconnect(_:)`` and ``disconnectAll()`` may be called from anywhere.
final class SocketIOClient: EngineSessionDelegate, @unchecked Sendable {
    let session: EngineSession
    private let namespaces: NamespaceRegistry
    let queueLimits: SocketEventQueue.Limits
    private var decoder: SocketPacketDecoder
    private var machine: SocketConnectionStateMachine
    /// The socket of each namespace joined or joining, by name.
    private var sockets: [String: Socket] = [:]
    private var connectTimer: Scheduled<Void>?

    init(session: EngineSession, namespaces: NamespaceRegistry, configuration: SocketIOConfiguration) {
        self.session = session
        self.namespaces = namespaces
        self.queueLimits = .init(jobs: configuration.maxPendingEvents, bytes: configuration.maxPendingEventBytes)
        self.decoder = SocketPacketDecoder(
            maxAttachments: configuration.maxAttachments,
            maxAttachmentBytes: configuration.engine.maxPayload
        )
        self.machine = SocketConnectionStateMachine(
            now: .now(),
            connectTimeout: TimeAmount(configuration.connectTimeout),
            maxConnectPayloadBytes: configuration.maxConnectPayloadBytes
        )
    }

    /// Starts the connect timeout. On the session's event loop.
    func start() {
        guard let deadline = machine.connectDeadline else { return }
        connectTimer = session.eventLoop.scheduleTask(deadline: deadline) { [self] in
            perform(machine.connectTimerFired(now: .now()))
        }
    }

    func send(_ packet: SocketPacket) {
        session.send(packet.encode())
    }

    // MARK: EngineSessionDelegate

    func engineSession(_ session: EngineSession, didReceive message: EngineMessage) {
        guard !machine.isClosed else { return }
        do {
            guard let decoded = try decoder.decode(message) else { return }
            let exists = namespaces.namespace(named: decoded.packet.namespace) != nil
            perform(try machine.packetReceived(decoded.packet, byteCount: decoded.byteCount, namespaceExists: exists))
        } catch {
            perform(machine.connectionFailed())
        }
    }

    func engineSession(_ session: EngineSession, didCloseWith reason: EngineCloseReason) {
        perform(machine.engineClosed(reason))
    }

    // MARK: Actions

    private func perform(_ actions: [SocketConnectionStateMachine.Action]) {
        for action in actions { perform(action) }
    }

    private func perform(_ action: SocketConnectionStateMachine.Action) {
        switch action {
        case .runMiddleware(let name, let auth):
            guard let namespace = namespaces.namespace(named: name) else { return }
            let handshake = SocketHandshake(
                headers: session.handshake.headers,
                query: session.handshake.query,
                auth: auth,
                remoteAddress: session.handshake.remoteAddress,
                time: .now
            )
            let socket = Socket(id: SessionID.make(), namespace: namespace, handshake: handshake, client: self)
            sockets[name] = socket
            runMiddleware(of: namespace, for: socket)
        case .refuseConnect(let name, let payload):
            sockets[name] = nil
            send(SocketPacket(kind: .connectError, namespace: name, data: payload))
        case .acceptConnect(let name):
            guard let socket = sockets[name] else { return }
            socket.namespace.add(socket)
            namespaces.socketJoined()
            let earlyRooms = socket.markConnected()
            if !earlyRooms.isEmpty { socket.namespace.join(socket, rooms: earlyRooms) }
            send(SocketPacket(kind: .connect, namespace: name, data: ["sid": .string(socket.id)]))
            if let handler = socket.namespace.connectionHandler {
                socket.events.enqueue { await handler(socket) }
            }
        case .cancelConnectTimer:
            connectTimer?.cancel()
            connectTimer = nil
        case .deliverEvent(let name, let arguments, let ackID, let byteCount):
            sockets[name]?.receiveEvent(arguments, ackID: ackID, byteCount: byteCount)
        case .deliverAck(let name, let arguments, let id):
            sockets[name]?.receiveAck(arguments, id: id)
        case .sendDisconnect(let name):
            send(SocketPacket(kind: .disconnect, namespace: name))
        case .leave(let name, let reason):
            guard let socket = sockets.removeValue(forKey: name) else { return }
            socket.disconnected(reason) { [namespaces] in namespaces.socketLeft() }
        case .closeConnection(let reason):
            session.close(reason: reason)
        }
    }

    /// Runs the namespace's middleware in order off the event loop, then reports back on it.
    private func runMiddleware(of namespace: SocketNamespace, for socket: Socket) {
        let middleware = namespace.middleware
        let eventLoop = session.eventLoop
        Task {
            var refusal: ConnectionRefused?
            for step in middleware {
                do {
                    try await step(socket)
                } catch let error as ConnectionRefused {
                    refusal = error
                    break
                } catch {
                    // Internal errors stay on the server.
                    refusal = ConnectionRefused("Internal error")
                    break
                }
            }
            eventLoop.execute { [refusal] in
                // A socket the connection gave up on meanwhile is dropped.
                guard self.sockets[namespace.name] === socket else { return }
                self.perform(self.machine.middlewareFinished(namespace: namespace.name, refusal: refusal?.payload))
            }
        }
    }

    /// The server removes `socket` from its namespace: the client gets DISCONNECT.
    func disconnect(_ socket: Socket) {
        session.eventLoop.execute {
            guard self.sockets[socket.namespace.name] === socket else { return }
            self.perform(self.machine.disconnect(namespace: socket.namespace.name))
        }
    }

    /// Removes every socket of this connection (each client namespace gets DISCONNECT, so the
    /// client does not reconnect by itself), then closes the connection.
    func disconnectAll() {
        session.eventLoop.execute {
            self.perform(self.machine.disconnectAll())
        }
    }
}
