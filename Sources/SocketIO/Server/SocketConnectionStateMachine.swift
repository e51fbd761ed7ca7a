import NIOCore

/// The Socket.IO state of one Engine.IO connection, without I/O: which namespaces are joined or
/// joining, the connect timeout, and what each packet from the client means.
///
/// ``SocketIOClient`` feeds it packets, middleware results, timer expiries and server requests,
/// and performs the ``Action``s it returns, in order. A namespace is `connecting` while its
/// middleware runs and `connected` once the CONNECT was answered; a packet for a namespace that
/// is not connected, a second CONNECT, or a CONNECT_ERROR from the client breaks the protocol and
/// closes the connection, as the reference server does.
struct SocketConnectionStateMachine {
    enum Action: Equatable {
        /// Look up the session a CONNECT asks to recover (connection-state recovery), then report
        /// with ``restoreFinished(namespace:auth:skipMiddleware:)``.
        case restoreSession(namespace: String, auth: SocketValue, pid: String, offset: String)
        /// Make the socket for this CONNECT payload (the recovered one, if any) and run the
        /// namespace's middleware for it.
        case runMiddleware(namespace: String, auth: SocketValue)
        /// Make the socket for this CONNECT payload (the recovered one), without middleware.
        case createSocket(namespace: String, auth: SocketValue)
        /// Answer a CONNECT with CONNECT_ERROR.
        case refuseConnect(namespace: String, payload: SocketValue)
        /// The middleware let the socket in: add it to its namespace and answer CONNECT.
        case acceptConnect(namespace: String)
        case cancelConnectTimer
        /// Hand an event to the namespace's socket.
        case deliverEvent(namespace: String, arguments: [SocketValue], ackID: Int64?, byteCount: Int)
        /// Hand an acknowledgement to the namespace's socket.
        case deliverAck(namespace: String, arguments: [SocketValue], id: Int64)
        /// Tell the client its socket in this namespace is gone (DISCONNECT).
        case sendDisconnect(namespace: String)
        /// The namespace's socket leaves (its disconnect handlers run).
        case leave(namespace: String, reason: SocketDisconnectReason)
        case closeConnection(EngineCloseReason)
    }

    enum NamespaceState: Equatable {
        /// Its CONNECT is going through middleware.
        case connecting
        case connected
    }

    private enum Phase: Equatable {
        /// No namespace joined yet: the connection closes at the deadline.
        case awaitingFirstNamespace(deadline: NIODeadline)
        case active
        case closed
    }

    private var phase: Phase
    private(set) var namespaces: [String: NamespaceState] = [:]
    private let maxConnectPayloadBytes: Int
    private let recoveryEnabled: Bool

    /// - Parameters:
    ///   - connectTimeout: how long the client may take to join its first namespace.
    ///   - recoveryEnabled: whether a CONNECT carrying `pid` and `offset` asks for recovery.
    init(now: NIODeadline, connectTimeout: TimeAmount, maxConnectPayloadBytes: Int, recoveryEnabled: Bool = false) {
        phase = .awaitingFirstNamespace(deadline: now + connectTimeout)
        self.maxConnectPayloadBytes = maxConnectPayloadBytes
        self.recoveryEnabled = recoveryEnabled
    }

    /// When the connect timer must fire, if it is armed.
    var connectDeadline: NIODeadline? {
        if case .awaitingFirstNamespace(let deadline) = phase { return deadline }
        return nil
    }

    var isClosed: Bool { phase == .closed }

    // MARK: From the client

    /// A packet arrived; `namespaceExists` says whether the server has its namespace.
    /// - Throws: ``SocketProtocolError`` when the packet breaks the protocol: the connection must
    ///   be closed (``connectionFailed()`` says how).
    mutating func packetReceived(
        _ packet: SocketPacket,
        byteCount: Int,
        namespaceExists: Bool
    ) throws(SocketProtocolError) -> [Action] {
        guard phase != .closed else { return [] }
        let name = packet.namespace
        switch packet.kind {
        case .connect:
            guard namespaces[name] == nil else { throw SocketProtocolError(reason: "already connected to \(name)") }
            guard byteCount <= maxConnectPayloadBytes else {
                return [.refuseConnect(namespace: name, payload: ["message": "Payload too large"])]
            }
            guard namespaceExists else {
                return [.refuseConnect(namespace: name, payload: ["message": "Invalid namespace"])]
            }
            namespaces[name] = .connecting
            let auth = packet.data ?? [:]
            // As the reference server: both strings, or no recovery.
            if recoveryEnabled, case .string(let pid)? = auth["pid"], case .string(let offset)? = auth["offset"] {
                return [.restoreSession(namespace: name, auth: auth, pid: pid, offset: offset)]
            }
            return [.runMiddleware(namespace: name, auth: auth)]
        case .disconnect:
            guard namespaces[name] == .connected else {
                throw SocketProtocolError(reason: "not connected to \(name)")
            }
            namespaces[name] = nil
            return [.leave(namespace: name, reason: .clientNamespaceDisconnect)]
        case .event, .binaryEvent:
            guard namespaces[name] == .connected, case .array(let arguments)? = packet.data else {
                throw SocketProtocolError(reason: "event for a namespace not joined")
            }
            return [.deliverEvent(namespace: name, arguments: arguments, ackID: packet.id, byteCount: byteCount)]
        case .ack, .binaryAck:
            guard namespaces[name] == .connected, case .array(let arguments)? = packet.data, let id = packet.id else {
                throw SocketProtocolError(reason: "ack for a namespace not joined")
            }
            return [.deliverAck(namespace: name, arguments: arguments, id: id)]
        case .connectError:
            throw SocketProtocolError(reason: "clients do not send CONNECT_ERROR")
        }
    }

    /// A packet could not be decoded, or broke the protocol: the connection closes.
    mutating func connectionFailed() -> [Action] {
        guard phase != .closed else { return [] }
        return [.closeConnection(.parseError)]
    }

    // MARK: From the server

    /// The recovery store answered a ``Action/restoreSession(namespace:auth:pid:offset:)``;
    /// `skipMiddleware` when it found the session and recovered sockets skip middleware.
    mutating func restoreFinished(namespace name: String, auth: SocketValue, skipMiddleware: Bool) -> [Action] {
        guard phase != .closed, namespaces[name] == .connecting else { return [] }
        guard skipMiddleware else { return [.runMiddleware(namespace: name, auth: auth)] }
        return [.createSocket(namespace: name, auth: auth)] + middlewareFinished(namespace: name, refusal: nil)
    }

    /// A namespace's middleware finished; `refusal` is the CONNECT_ERROR payload if it refused.
    mutating func middlewareFinished(namespace name: String, refusal: SocketValue?) -> [Action] {
        guard phase != .closed, namespaces[name] == .connecting else { return [] }
        if let refusal {
            namespaces[name] = nil
            return [.refuseConnect(namespace: name, payload: refusal)]
        }
        namespaces[name] = .connected
        var actions: [Action] = []
        if case .awaitingFirstNamespace = phase {
            phase = .active
            actions.append(.cancelConnectTimer)
        }
        actions.append(.acceptConnect(namespace: name))
        return actions
    }

    /// The connect timer fired.
    mutating func connectTimerFired(now: NIODeadline) -> [Action] {
        guard case .awaitingFirstNamespace(let deadline) = phase, now >= deadline else { return [] }
        guard !namespaces.values.contains(.connected) else { return [] }
        return [.closeConnection(.forcedClose)]
    }

    /// The server removes the socket of a namespace.
    mutating func disconnect(namespace name: String) -> [Action] {
        guard phase != .closed, namespaces[name] == .connected else { return [] }
        namespaces[name] = nil
        return [.sendDisconnect(namespace: name), .leave(namespace: name, reason: .serverNamespaceDisconnect)]
    }

    /// The server removes every socket (each namespace is told) and closes the connection.
    mutating func disconnectAll() -> [Action] {
        guard phase != .closed else { return [] }
        let joined = namespaces.filter { $0.value == .connected }.keys.sorted()
        namespaces = namespaces.filter { $0.value == .connecting }
        return joined.flatMap { name in
            [Action.sendDisconnect(namespace: name), .leave(namespace: name, reason: .serverNamespaceDisconnect)]
        } + [.closeConnection(.forcedClose)]
    }

    /// The Engine.IO session closed: every socket leaves, with the reason.
    mutating func engineClosed(_ reason: EngineCloseReason) -> [Action] {
        guard phase != .closed else { return [] }
        phase = .closed
        let joined = namespaces.filter { $0.value == .connected }.keys.sorted()
        namespaces = [:]
        return joined.map { .leave(namespace: $0, reason: SocketDisconnectReason(reason)) } + [.cancelConnectTimer]
    }
}
