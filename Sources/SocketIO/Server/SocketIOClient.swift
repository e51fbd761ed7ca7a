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
    private let recovery: ConnectionStateRecovery?
    /// Sessions found for recovering CONNECTs, by namespace, with the offset to replay from,
    /// until their socket is made.
    private var restored: [String: (session: RecoverableSession, offset: String)] = [:]
    /// Recovered sockets between joining their rooms and the end of their replay: broadcasts
    /// that reach them meanwhile wait here, to follow the replay (without the ones it held).
    private var held: [String: [(encoded: EncodedBroadcast, offset: String?)]] = [:]

    init(session: EngineSession, namespaces: NamespaceRegistry, configuration: SocketIOConfiguration) {
        self.session = session
        self.namespaces = namespaces
        self.queueLimits = .init(jobs: configuration.maxPendingEvents, bytes: configuration.maxPendingEventBytes)
        self.decoder = SocketPacketDecoder(
            maxAttachments: configuration.maxAttachments,
            maxAttachmentBytes: configuration.engine.maxPayload
        )
        self.recovery = configuration.connectionStateRecovery
        self.machine = SocketConnectionStateMachine(
            now: .now(),
            connectTimeout: TimeAmount(configuration.connectTimeout),
            maxConnectPayloadBytes: configuration.maxConnectPayloadBytes,
            recoveryEnabled: configuration.connectionStateRecovery != nil
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

    /// A broadcast reached `socket`, on the session's event loop.
    func deliverOnLoop(_ encoded: EncodedBroadcast, offset: String?, to socket: Socket) {
        if !held.isEmpty, held[socket.namespace.name] != nil, sockets[socket.namespace.name] === socket {
            held[socket.namespace.name]?.append((encoded, offset))
            return
        }
        session.sendOnLoop(encoded)
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
        case .restoreSession(let name, let auth, let pid, let offset):
            guard let recovery else { return }
            restore(namespace: name, auth: auth, pid: pid, offset: offset, from: recovery)
        case .runMiddleware(let name, let auth):
            guard let socket = makeSocket(namespace: name, auth: auth) else { return }
            runMiddleware(of: socket.namespace, for: socket)
        case .createSocket(let name, let auth):
            _ = makeSocket(namespace: name, auth: auth)
        case .refuseConnect(let name, let payload):
            sockets[name] = nil
            restored[name] = nil
            send(SocketPacket(kind: .connectError, namespace: name, data: payload))
        case .acceptConnect(let name):
            guard var socket = sockets[name] else { return }
            if socket.recovered, let other = socket.namespace.socket(id: socket.id), other !== socket {
                // Another CONNECT with the same pid got here first: this one connects anew.
                socket = Socket(replacing: socket)
                sockets[name] = socket
                restored[name] = nil
            }
            socket.namespace.add(socket)
            namespaces.socketJoined()
            let earlyRooms = socket.markConnected()
            if !earlyRooms.isEmpty { socket.namespace.join(socket, rooms: earlyRooms) }
            if let (recovered, offset) = restored.removeValue(forKey: name), let recovery {
                // In its rooms first, then asked what it missed: nothing falls between the two.
                held[name] = []
                replay(to: socket, session: recovered, after: offset, from: recovery)
            } else {
                if let recovery, socket.pid != nil { socket.assignSessionID(recovery.store.sessionID(for: socket)) }
                send(connectAnswer(for: socket))
                startHandlers(of: socket)
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
            held[name] = nil
            let persisted = persistableSession(of: socket, leaving: reason)
            socket.disconnected(reason) { [namespaces] in namespaces.socketLeft() }
            if let persisted, let recovery {
                Task { await recovery.store.persist(persisted) }
            }
        case .closeConnection(let reason):
            session.close(reason: reason)
        }
    }

    /// The socket for a CONNECT: the recovered one when the store found its session.
    private func makeSocket(namespace name: String, auth: SocketValue) -> Socket? {
        guard let namespace = namespaces.namespace(named: name) else { return nil }
        let handshake = SocketHandshake(engine: session.handshake, auth: auth, time: .now)
        let socket: Socket
        if let recovered = restored[name]?.session {
            socket = Socket(recovering: recovered, namespace: namespace, handshake: handshake, client: self)
        } else {
            socket = Socket(
                id: SessionID.make(), pid: recovery.map { _ in SessionID.make() }, namespace: namespace,
                handshake: handshake, client: self)
        }
        sockets[name] = socket
        return socket
    }

    private func connectAnswer(for socket: Socket) -> SocketPacket {
        let data: SocketValue =
            socket.pid.map { ["sid": .string(socket.id), "pid": .string($0)] } ?? ["sid": .string(socket.id)]
        return SocketPacket(kind: .connect, namespace: socket.namespace.name, data: data)
    }

    private func startHandlers(of socket: Socket) {
        if let handler = socket.namespace.connectionHandler {
            socket.events.enqueue { await handler(socket) }
        }
    }

    // MARK: Recovery

    /// Asks the store for the session a CONNECT names, off the event loop; a store that fails is
    /// taken as not knowing it.
    private func restore(
        namespace name: String, auth: SocketValue, pid: String, offset: String, from recovery: ConnectionStateRecovery
    ) {
        let eventLoop = session.eventLoop
        Task {
            let answer = try? await recovery.store.restore(pid: pid, offset: offset, namespace: name)
            eventLoop.execute {
                // Its socket may still be here, its connection lost but not yet noticed (a store
                // that recognises sessions by their pid alone can be asked then): it connects anew.
                let found = answer.flatMap { session in
                    self.namespaces.namespace(named: name)?.socket(id: session.sid) == nil ? session : nil
                }
                if let found { self.restored[name] = (found, offset) }
                self.perform(
                    self.machine.restoreFinished(
                        namespace: name, auth: auth, skipMiddleware: found != nil && recovery.skipMiddlewares))
            }
        }
    }

    /// Sends a recovered socket its CONNECT answer, what it missed, then what reached it
    /// meanwhile (once), and starts its handlers. If the store no longer has everything after
    /// the offset, the socket carries on with a new `pid`, so the client knows it was not
    /// recovered.
    private func replay(
        to socket: Socket, session recovered: RecoverableSession, after offset: String,
        from recovery: ConnectionStateRecovery
    ) {
        let eventLoop = session.eventLoop
        Task {
            let missed = (try? await recovery.store.missedPackets(of: recovered, after: offset)) ?? nil
            eventLoop.execute {
                let name = socket.namespace.name
                guard self.sockets[name] === socket, let waiting = self.held.removeValue(forKey: name) else { return }
                if missed == nil { socket.recoveryFailed(pid: recovery.store.sessionID(for: socket)) }
                var messages = self.connectAnswer(for: socket).encode()
                var replayed = Set<String>()
                for arguments in missed ?? [] {
                    if case .string(let offset)? = arguments.last { replayed.insert(offset) }
                    messages += SocketPacket(kind: .event, namespace: name, data: .array(arguments)).encode()
                }
                self.session.sendOnLoop(messages)
                for (encoded, offset) in waiting where offset.map({ !replayed.contains($0) }) ?? true {
                    self.session.sendOnLoop(encoded)
                }
                self.startHandlers(of: socket)
            }
        }
    }

    /// What the store keeps of a socket leaving for `reason`, when it may come back recovered.
    private func persistableSession(of socket: Socket, leaving reason: SocketDisconnectReason) -> RecoverableSession? {
        guard recovery != nil, ConnectionStateRecovery.allowsRecovery(after: reason), socket.isConnected,
            let pid = socket.pid
        else { return nil }
        return RecoverableSession(
            sid: socket.id, pid: pid, namespace: socket.namespace.name, rooms: socket.rooms, data: socket.data)
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
