import NIOCore

/// The Socket.IO side of one Engine.IO connection: decodes packets, multiplexes namespaces,
/// enforces the connect timeout, and closes the connection on any protocol violation.
///
/// Lives on its session's event loop (it is the session's delegate); ``send(_:)``,
/// ``disconnect(_:)`` and ``disconnectAll()`` may be called from anywhere.
final class SocketIOClient: EngineSessionDelegate, @unchecked Sendable {
    let session: EngineSession
    private let namespaces: NamespaceRegistry
    private let connectTimeout: TimeAmount
    private let maxConnectPayloadBytes: Int
    let queueLimits: SocketEventQueue.Limits
    private var decoder: SocketPacketDecoder
    /// Joined namespaces, by name.
    private var sockets: [String: Socket] = [:]
    /// Namespaces whose CONNECT is going through middleware.
    private var connecting: Set<String> = []
    private var connectTimer: Scheduled<Void>?
    private var closed = false

    init(session: EngineSession, namespaces: NamespaceRegistry, configuration: SocketIOConfiguration) {
        self.session = session
        self.namespaces = namespaces
        self.connectTimeout = TimeAmount(configuration.connectTimeout)
        self.maxConnectPayloadBytes = configuration.maxConnectPayloadBytes
        self.queueLimits = .init(jobs: configuration.maxPendingEvents, bytes: configuration.maxPendingEventBytes)
        self.decoder = SocketPacketDecoder(
            maxAttachments: configuration.maxAttachments,
            maxAttachmentBytes: configuration.engine.maxPayload
        )
    }

    /// Starts the connect timeout. On the session's event loop.
    func start() {
        connectTimer = session.eventLoop.scheduleTask(in: connectTimeout) { [self] in
            if sockets.isEmpty { session.close(reason: .forcedClose) }
        }
    }

    func send(_ packet: SocketPacket) {
        session.send(packet.encode())
    }

    // MARK: EngineSessionDelegate

    func engineSession(_ session: EngineSession, didReceive message: EngineMessage) {
        guard !closed else { return }
        do {
            guard let decoded = try decoder.decode(message) else { return }
            try handle(decoded.packet, byteCount: decoded.byteCount)
        } catch {
            session.close(reason: .parseError)
        }
    }

    func engineSession(_ session: EngineSession, didCloseWith reason: EngineCloseReason) {
        closed = true
        connectTimer?.cancel()
        let all = sockets.values
        sockets = [:]
        for socket in all { leave(socket, reason: SocketDisconnectReason(reason)) }
    }

    // MARK: Packets

    private func handle(_ packet: SocketPacket, byteCount: Int) throws(SocketProtocolError) {
        switch packet.kind {
        case .connect:
            guard sockets[packet.namespace] == nil, !connecting.contains(packet.namespace) else {
                throw SocketProtocolError(reason: "already connected to \(packet.namespace)")
            }
            guard byteCount <= maxConnectPayloadBytes else {
                send(
                    SocketPacket(
                        kind: .connectError, namespace: packet.namespace, data: ["message": "Payload too large"]))
                return
            }
            connect(to: packet.namespace, auth: packet.data ?? [:])
        case .disconnect:
            guard let socket = sockets.removeValue(forKey: packet.namespace) else {
                throw SocketProtocolError(reason: "not connected to \(packet.namespace)")
            }
            leave(socket, reason: .clientNamespaceDisconnect)
        case .event, .binaryEvent:
            guard let socket = sockets[packet.namespace], case .array(let arguments)? = packet.data else {
                throw SocketProtocolError(reason: "event for a namespace not joined")
            }
            socket.receiveEvent(arguments, ackID: packet.id, byteCount: byteCount)
        case .ack, .binaryAck:
            guard let socket = sockets[packet.namespace], case .array(let arguments)? = packet.data, let id = packet.id
            else {
                throw SocketProtocolError(reason: "ack for a namespace not joined")
            }
            socket.receiveAck(arguments, id: id)
        case .connectError:
            throw SocketProtocolError(reason: "clients do not send CONNECT_ERROR")
        }
    }

    private func connect(to name: String, auth: SocketValue) {
        guard let namespace = namespaces.namespace(named: name) else {
            send(SocketPacket(kind: .connectError, namespace: name, data: ["message": "Invalid namespace"]))
            return
        }
        let handshake = SocketHandshake(
            headers: session.handshake.headers,
            query: session.handshake.query,
            auth: auth,
            remoteAddress: session.handshake.remoteAddress,
            time: .now
        )
        let socket = Socket(id: SessionID.make(), namespace: namespace, handshake: handshake, client: self)
        connecting.insert(name)
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
                self.finishConnect(socket, refusal: refusal)
            }
        }
    }

    private func finishConnect(_ socket: Socket, refusal: ConnectionRefused?) {
        let name = socket.namespace.name
        connecting.remove(name)
        guard !closed else { return }
        if let refusal {
            send(SocketPacket(kind: .connectError, namespace: name, data: refusal.payload))
            return
        }
        connectTimer?.cancel()
        connectTimer = nil
        sockets[name] = socket
        socket.namespace.add(socket)
        namespaces.socketJoined()
        let earlyRooms = socket.markConnected()
        if !earlyRooms.isEmpty { socket.namespace.join(socket, rooms: earlyRooms) }
        send(SocketPacket(kind: .connect, namespace: name, data: ["sid": .string(socket.id)]))
        if let handler = socket.namespace.connectionHandler {
            socket.events.enqueue { await handler(socket) }
        }
    }

    private func leave(_ socket: Socket, reason: SocketDisconnectReason) {
        socket.disconnected(reason) { [namespaces] in namespaces.socketLeft() }
    }

    /// The server removes `socket` from its namespace: the client gets DISCONNECT.
    func disconnect(_ socket: Socket) {
        session.eventLoop.execute {
            guard self.sockets[socket.namespace.name] === socket else { return }
            self.sockets[socket.namespace.name] = nil
            self.send(SocketPacket(kind: .disconnect, namespace: socket.namespace.name))
            self.leave(socket, reason: .serverNamespaceDisconnect)
        }
    }

    /// Removes every socket of this connection (each client namespace gets DISCONNECT, so the
    /// client does not reconnect by itself), then closes the connection.
    func disconnectAll() {
        session.eventLoop.execute {
            guard !self.closed else { return }
            let all = self.sockets
            self.sockets = [:]
            for (name, socket) in all {
                self.send(SocketPacket(kind: .disconnect, namespace: name))
                self.leave(socket, reason: .serverNamespaceDisconnect)
            }
            self.session.close(reason: .forcedClose)
        }
    }
}
