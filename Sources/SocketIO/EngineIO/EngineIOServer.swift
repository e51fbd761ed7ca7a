import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOConcurrencyHelpers
import NIOCore

/// An Engine.IO v4 server at one path: validates requests, opens sessions, answers polls and
/// accepts WebSockets. Socket.IO runs on top of one; on its own it is a plain message pipe (the
/// conformance executable's `/engine.io/` echo endpoint).
public final class EngineIOServer: Sendable {
    public let configuration: EngineConfiguration
    /// The URL path, with its trailing slash (`/socket.io/`).
    public let path: String

    private let sessions = NIOLockedValueBox<[String: EngineSession]>([:])
    /// The heartbeat timers of the sessions on each event loop.
    private let heartbeats = NIOLockedValueBox<[ObjectIdentifier: EventLoopTimerQueue<EngineSession>]>([:])
    private let shuttingDown = NIOLockedValueBox(false)
    private let requestCheck: (@Sendable (EngineRequest) async -> EngineRequestVerdict)?
    private let sessionBinding: (@Sendable (EngineRequest) -> EngineSessionBinding)?
    private let onConnection: @Sendable (EngineSession) -> Void

    /// - Parameters:
    ///   - path: the URL path clients use.
    ///   - requestCheck: decides on every request that opens a session or a WebSocket, before
    ///     anything else happens (origin checks, cookies); a denial answers 403.
    ///   - sessionBinding: what ties a session to its client (see ``EngineSessionBinding``):
    ///     computed for the request that opens a session and for every later request naming its
    ///     id (polls, posts, the WebSocket upgrade); one the session's binding does not admit is
    ///     answered as an unknown session. Without it, a session id is all it takes, as with the
    ///     reference server.
    ///   - onConnection: called on the new session's event loop, before any message can arrive;
    ///     set the session's delegate there.
    public init(
        path: String,
        configuration: EngineConfiguration = .init(),
        requestCheck: (@Sendable (EngineRequest) async -> EngineRequestVerdict)? = nil,
        sessionBinding: (@Sendable (EngineRequest) -> EngineSessionBinding)? = nil,
        onConnection: @escaping @Sendable (EngineSession) -> Void
    ) {
        self.path = path.hasSuffix("/") ? path : path + "/"
        self.configuration = configuration
        self.requestCheck = requestCheck
        self.sessionBinding = sessionBinding
        self.onConnection = onConnection
    }

    /// Sessions currently open.
    public var sessionCount: Int { sessions.withLockedValue { $0.count } }

    /// Open sessions by the transport they use now (for metrics).
    public var sessionCounts: (polling: Int, webSocket: Int) {
        sessions.withLockedValue { sessions in
            let webSocket = sessions.values.count { $0.currentTransport == .websocket }
            return (sessions.count - webSocket, webSocket)
        }
    }

    /// Closes every session (e.g. at shutdown), telling each client.
    public func closeAll(reason: EngineCloseReason = .serverShuttingDown) {
        let all = sessions.withLockedValue { Array($0.values) }
        for session in all { session.close(reason: reason) }
    }

    /// Refuses new sessions from now on and closes every open one; only the first call acts.
    public func beginShutdown() {
        let first = shuttingDown.withLockedValue { flag in
            defer { flag = true }
            return !flag
        }
        if first { closeAll(reason: .serverShuttingDown) }
    }

    /// Whether ``beginShutdown()`` was called.
    public var isShuttingDown: Bool { shuttingDown.withLockedValue { $0 } }

    /// Returns when no session is left, or at `deadline`.
    public func waitUntilEmpty(until deadline: ContinuousClock.Instant) async {
        while sessionCount > 0, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    func session(id: String) -> EngineSession? {
        sessions.withLockedValue { $0[id] }
    }

    /// Whether `requestPath` (without its query) is this server's.
    func matches(path requestPath: Substring) -> Bool {
        requestPath == path || requestPath + "/" == path
    }

    // MARK: Validation

    /// What an incoming request is, once validated.
    enum Target {
        /// A new session; `binding` ties it to its client (see `sessionBinding`).
        case handshake(transport: EngineSessionStateMachine.Transport, binding: EngineSessionBinding?)
        case session(EngineSession)
    }

    /// The reference server's checks, in its order: transport, then the session (unknown id,
    /// transport mismatch) or the handshake (method, request check, protocol version).
    func validate(
        method: HTTPRequest.Method,
        query: [String: String],
        isUpgrade: Bool,
        request: @autoclosure () -> EngineRequest
    ) async -> Result<Target, EngineDenial> {
        let transport: EngineSessionStateMachine.Transport
        switch query["transport"] {
        case "polling" where configuration.allowPolling: transport = .polling
        case "websocket" where configuration.allowWebSocket: transport = .websocket
        default: return .failure(EngineDenial(.unknownTransport))
        }
        if let sid = query["sid"], !sid.isEmpty {
            guard let session = session(id: sid) else { return .failure(EngineDenial(.unknownSessionID)) }
            // Another client holding the id is answered as if there were no such session.
            if let sessionBinding, let binding = session.binding, !binding.admits(sessionBinding(request())) {
                return .failure(EngineDenial(.unknownSessionID))
            }
            // Polls for a session that moved to WebSocket, or a WebSocket URL without an upgrade.
            if !isUpgrade, transport != .polling { return .failure(EngineDenial(.badRequest)) }
            if isUpgrade, transport != .websocket { return .failure(EngineDenial(.badRequest)) }
            return .success(.session(session))
        }
        guard method == .get else { return .failure(EngineDenial(.badHandshakeMethod)) }
        // Shutting down: clients should connect to another instance.
        guard !isShuttingDown else {
            return .failure(EngineDenial(.badRequest, message: "Server is shutting down", status: .serviceUnavailable))
        }
        guard isUpgrade == (transport == .websocket) else { return .failure(EngineDenial(.badRequest)) }
        guard sessionCount < configuration.maxSessions else {
            return .failure(EngineDenial(.badRequest, message: "Server is full", status: .serviceUnavailable))
        }
        if let requestCheck, case .deny(let message) = await requestCheck(request()) {
            return .failure(EngineDenial(.forbidden, message: message))
        }
        guard query["EIO"] == "4" else { return .failure(EngineDenial(.unsupportedProtocolVersion)) }
        return .success(.handshake(transport: transport, binding: sessionBinding?(request())))
    }

    // MARK: Sessions

    /// Creates and registers a session on `eventLoop`, and announces it.
    func openSession(
        transport: EngineSessionStateMachine.Transport,
        handshake: EngineHandshake,
        binding: EngineSessionBinding?,
        eventLoop: any EventLoop,
        webSocket: EngineWebSocket?
    ) -> EngineSession {
        eventLoop.assertInEventLoop()
        let session = EngineSession(
            id: SessionID.make(),
            handshake: handshake,
            binding: binding,
            transport: transport,
            configuration: configuration,
            eventLoop: eventLoop,
            heartbeats: heartbeats(on: eventLoop),
            onClosed: { [sessions] closed in
                sessions.withLockedValue { _ = $0.removeValue(forKey: closed.id) }
            }
        )
        sessions.withLockedValue { $0[session.id] = session }
        onConnection(session)
        session.start(openPacket: openPacket(for: session, transport: transport), webSocket: webSocket)
        return session
    }

    private func heartbeats(on eventLoop: any EventLoop) -> EventLoopTimerQueue<EngineSession> {
        heartbeats.withLockedValue { queues in
            if let queue = queues[ObjectIdentifier(eventLoop)] { return queue }
            let queue = EventLoopTimerQueue<EngineSession>(eventLoop: eventLoop)
            queues[ObjectIdentifier(eventLoop)] = queue
            return queue
        }
    }

    /// The handshake: `0{"sid":…,"upgrades":[…],"pingInterval":…,"pingTimeout":…,"maxPayload":…}`.
    func openPacket(for session: EngineSession, transport: EngineSessionStateMachine.Transport) -> EnginePacket {
        let upgrades: [SocketValue] = transport == .polling && configuration.allowWebSocket ? ["websocket"] : []
        let handshake: SocketValue = [
            "sid": .string(session.id),
            "upgrades": .array(upgrades),
            "pingInterval": .int(configuration.pingInterval.milliseconds),
            "pingTimeout": .int(configuration.pingTimeout.milliseconds),
            "maxPayload": .int(Int64(configuration.maxPayload)),
        ]
        return .open(handshake.description)
    }

    static func query(of uri: URI) -> [String: String] {
        var query: [String: String] = [:]
        for (key, value) in uri.queryParameters {
            query[String(key)] = String(value)
        }
        return query
    }
}

/// A request that would open a session or a WebSocket, for the application's check.
public struct EngineRequest: Sendable {
    public var method: HTTPRequest.Method
    /// The `Host` the client addressed (`host:port`).
    public var authority: String?
    public var path: String
    public var query: [String: String]
    public var headers: HTTPFields
    public var remoteAddress: SocketAddress?
    /// Whether it is a WebSocket upgrade.
    public var isWebSocket: Bool
}

/// The application's answer to an ``EngineRequest``.
public enum EngineRequestVerdict: Sendable, Equatable {
    case allow
    /// Refuse with 403 `{"code":4,"message":…}` (the default message is "Forbidden").
    case deny(message: String? = nil)
}

/// A refused request: the Engine.IO error and, for a denial, the application's message.
struct EngineDenial: Error, Equatable {
    let error: EngineError
    let message: String?
    /// Overrides the error's usual status (503 while shutting down).
    let status: HTTPResponse.Status

    init(_ error: EngineError, message: String? = nil, status: HTTPResponse.Status? = nil) {
        self.error = error
        self.message = message
        self.status = status ?? error.status
    }
}

extension Duration {
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
