import NIOCore

/// The Socket.IO side of one Engine.IO connection: decodes packets, multiplexes namespaces,
/// enforces the connect timeout, and closes the connection on any protocol violation.
///
/// Lives on its session's event loop (it is the session's delegate); ``send(_:)`` may be called
/// from anywhere.
final class SocketIOClient: EngineSessionDelegate, @unchecked Sendable {
    let session: EngineSession
    private let namespaces: NamespaceRegistry
    private let connectTimeout: TimeAmount
    let maxPendingEvents: Int
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
        self.maxPendingEvents = configuration.maxPendingEvents
        self.decoder = SocketPacketDecoder(maxAttachments: configuration.maxAttachments)
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
            guard let packet = try decoder.decode(message) else { return }
            try handle(packet)
        } catch {
            session.close(reason: .parseError)
        }
    }

    func engineSession(_ session: EngineSession, didCloseWith reason: EngineCloseReason) {
        closed = true
        connectTimer?.cancel()
        let all = sockets.values
        sockets = [:]
        for socket in all { socket.disconnected(SocketDisconnectReason(reason)) }
    }

    // MARK: Packets

    private func handle(_ packet: SocketPacket) throws(SocketProtocolError) {
        switch packet.kind {
        case .connect:
            guard sockets[packet.namespace] == nil, !connecting.contains(packet.namespace) else {
                throw SocketProtocolError(reason: "already connected to \(packet.namespace)")
            }
            connect(to: packet.namespace, auth: packet.data ?? [:])
        case .disconnect:
            guard let socket = sockets.removeValue(forKey: packet.namespace) else {
                throw SocketProtocolError(reason: "not connected to \(packet.namespace)")
            }
            socket.disconnected(.clientNamespaceDisconnect)
        case .event, .binaryEvent:
            guard let socket = sockets[packet.namespace], case .array(let arguments)? = packet.data else {
                throw SocketProtocolError(reason: "event for a namespace not joined")
            }
            socket.receiveEvent(arguments, ackID: packet.id)
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
                    refusal = ConnectionRefused(String(describing: error))
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
        socket.markConnected()
        send(SocketPacket(kind: .connect, namespace: name, data: ["sid": .string(socket.id)]))
        if let handler = socket.namespace.connectionHandler {
            socket.events.enqueue { await handler(socket) }
        }
    }

    /// The server removes `socket` from its namespace: the client gets DISCONNECT.
    func disconnect(_ socket: Socket) {
        session.eventLoop.execute {
            guard self.sockets[socket.namespace.name] === socket else { return }
            self.sockets[socket.namespace.name] = nil
            self.send(SocketPacket(kind: .disconnect, namespace: socket.namespace.name))
            socket.disconnected(.serverNamespaceDisconnect)
        }
    }
}
