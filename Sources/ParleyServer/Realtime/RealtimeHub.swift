import HTTPTypes
import JSONText
import Logging
import NIOCore
import ParleyChat
import ParleyDomain
import ServiceLifecycle
import SocketIO
import Synchronization

/// Parley's realtime layer on the SocketIO module.
///
/// - Sockets are authenticated at CONNECT, from the `jwt` cookie or `auth.token`; each joins its
///   user's room (every device of a user gets that user's events) and its token's room (logout
///   ends them). A socket ends when its token expires.
/// - Clients send `send-message` (same rules as `POST /api/message`, answered by acknowledgement),
///   `typing` and `stop-typing`, within a per-socket rate.
/// - Everything clients hear comes from the cluster bus, so it is the same on every instance:
///   `new-message` (published by the store once the message is committed), `user-online`,
///   `user-offline`, `typing`, `stop-typing`.
///
/// Runs as a service: ``run()`` delivers bus events to this instance's sockets.
public final class RealtimeHub: Service {
    public let io: SocketIOServer
    private let auth: AuthService
    private let messages: MessageService
    private let presence: PresenceService
    private let bus: any ClusterBus
    private let settings: RealtimeSettings
    private let logger: Logger
    /// Messages sent through `send-message` whose event has not come back yet, with the socket
    /// that sent them: that socket has its acknowledgement and does not get `new-message`.
    private let sentBySocket = Mutex<[ObjectID: (socket: String, at: ContinuousClock.Instant)]>([:])

    public init(
        auth: AuthService,
        messages: MessageService,
        presence: PresenceService,
        bus: any ClusterBus,
        allowedOrigins: Set<String>,
        settings: RealtimeSettings,
        logger: Logger
    ) {
        var configuration = SocketIOConfiguration()
        configuration.engine.pingInterval = settings.pingInterval
        configuration.engine.pingTimeout = settings.pingTimeout
        self.io = SocketIOServer(
            path: "/socket.io/",
            configuration: configuration,
            requestCheck: { request in
                Self.originAllowed(request.headers[.origin], host: request.authority, allowed: allowedOrigins)
                    ? .allow : .deny(message: "Origin not allowed")
            }
        )
        self.auth = auth
        self.messages = messages
        self.presence = presence
        self.bus = bus
        self.settings = settings
        self.logger = logger
        io.main.use { [auth] socket in
            try await Self.authenticate(socket, auth: auth)
        }
        io.main.onConnection { [weak self] socket in
            await self?.connected(socket)
        }
    }

    // MARK: Connections

    private static let sessionKey = "parley.session"

    /// CONNECT middleware: the token from `auth.token` or the `jwt` cookie; the query string is
    /// never trusted.
    private static func authenticate(_ socket: Socket, auth: AuthService) async throws {
        let token = socket.handshake.auth["token"]?.stringValue ?? cookie(named: "jwt", in: socket.handshake.headers)
        guard let token, !token.isEmpty else { throw ConnectionRefused("unauthorized") }
        do {
            socket[data: sessionKey] = try await auth.authenticate(token: token)
        } catch {
            throw ConnectionRefused("unauthorized")
        }
    }

    private func connected(_ socket: Socket) async {
        guard let session = socket[data: Self.sessionKey] as? SessionToken else {
            socket.disconnect()
            return
        }
        let user = session.userID
        socket.join(Self.userRoom(user), Self.tokenRoom(session.fingerprint))
        let gate = SocketFloodGate(rate: settings.eventRate, burst: settings.eventBurst)
        socket.setEventGate { _ in gate.decide() }

        // The socket ends when its token does.
        let remaining = session.expiresAt.millisecondsSince1970 - Timestamp.now().millisecondsSince1970
        let expiry = socket.eventLoop.scheduleTask(in: .milliseconds(max(0, remaining))) {
            socket.disconnect()
        }
        socket.onDisconnect { [presence] _ in
            expiry.cancel()
            presence.deviceDisconnected(user)
        }

        presence.deviceConnected(user)
        var online = await presence.onlineUsers()
        online.insert(user)
        socket.emit("online-users", .array(online.sorted().map { .string($0.hexString) }))

        socket.on("send-message") { [weak self] arguments, ack in
            await self?.sendMessage(arguments, from: user, socket: socket, ack: ack)
        }
        socket.on("mark-read") { [weak self] arguments, ack in
            await self?.markRead(arguments, by: user, ack: ack)
        }
        socket.on("typing") { [weak self] arguments, ack in
            await self?.relayTyping(arguments, from: user, stop: false, ack: ack)
        }
        socket.on("stop-typing") { [weak self] arguments, ack in
            await self?.relayTyping(arguments, from: user, stop: true, ack: ack)
        }
    }

    // MARK: Client events

    private func sendMessage(_ arguments: [SocketValue], from user: ObjectID, socket: Socket, ack: Acknowledgement?)
        async
    {
        let id = ObjectID()
        do {
            // The REST body's fields and rules: `send-message` takes what `POST /api/message` takes.
            let body = try Self.decode(SendMessageRequest.self, from: arguments)
            sentBySocket.withLock { pending in
                pending[id] = (socket.id, .now)
                Self.prune(&pending)
            }
            let message = try await messages.send(
                from: user,
                to: body.to,
                text: body.text,
                image: body.image.map(ImageInput.dataURI),
                id: id
            )
            ack?.send([RealtimeReply.success([("message", SocketValue(message))])])
        } catch let error as ParleyError {
            _ = sentBySocket.withLock { $0.removeValue(forKey: id) }
            ack?.send([RealtimeReply.failure(error)])
        } catch {
            _ = sentBySocket.withLock { $0.removeValue(forKey: id) }
            logger.error("send-message failed", metadata: ["error": "\(String(reflecting: error))"])
            ack?.send([RealtimeReply.internalError])
        }
    }

    private func markRead(_ arguments: [SocketValue], by user: ObjectID, ack: Acknowledgement?) async {
        do {
            let body = try Self.decode(MarkReadRequest.self, from: arguments)
            let (receipt, marked) = try await messages.markRead(by: user, with: body.with, upTo: body.upTo)
            ack?.send([
                RealtimeReply.success([
                    ("with", .string(receipt.with.hexString)), ("upTo", .string(receipt.upTo.hexString)),
                    ("readAt", .string(receipt.readAt.iso8601)), ("marked", .int(Int64(marked))),
                ])
            ])
        } catch let error as ParleyError {
            ack?.send([RealtimeReply.failure(error)])
        } catch {
            logger.error("mark-read failed", metadata: ["error": "\(String(reflecting: error))"])
            ack?.send([RealtimeReply.internalError])
        }
    }

    private func relayTyping(_ arguments: [SocketValue], from user: ObjectID, stop: Bool, ack: Acknowledgement?) async {
        do {
            let body = try Self.decode(TypingRequest.self, from: arguments)
            let receiver = try Validation.id(body.to, field: "to")
            try await bus.publish(
                stop ? .stopTyping(from: user, to: receiver) : .typing(from: user, to: receiver))
            ack?.send([RealtimeReply.success()])
        } catch let error as ParleyError {
            ack?.send([RealtimeReply.failure(error)])
        } catch {
            ack?.send([RealtimeReply.failure(ParleyError.storeUnavailable("Could not relay the event"))])
        }
    }

    /// The first argument of an event, decoded with the REST API's rules and messages.
    private static func decode<Body: FormDecodable>(_ type: Body.Type, from arguments: [SocketValue]) throws -> Body {
        guard let payload = arguments.first, case .object = payload else {
            throw ParleyError(.badRequest, code: "invalid_body", message: "The payload must be an object")
        }
        var fields: [String: String] = [:]
        for key in Body.fieldNames {
            switch payload[key] {
            case .string(let string)?: fields[key] = string
            case .null?, nil: continue
            default: throw ParleyError.invalidField(key, "\(key) must be a string")
            }
        }
        return Body(fields: fields)
    }

    /// Drops entries whose event never came back (the bus was down), so the table stays small.
    private static func prune(_ pending: inout [ObjectID: (socket: String, at: ContinuousClock.Instant)]) {
        guard pending.count > 1000 else { return }
        let cutoff = ContinuousClock.now - .seconds(60)
        pending = pending.filter { $0.value.at > cutoff }
    }

    // MARK: Cluster events

    /// Logging out ends the sockets that used that token, on every instance.
    public func endSessions(usingToken token: String) async {
        do {
            try await bus.publish(.sessionEnded(tokenFingerprint: SessionToken.fingerprint(of: token)))
        } catch {
            logger.warning("Could not end the sockets of a logged-out session", metadata: ["error": "\(error)"])
        }
    }

    /// Delivers bus events to this instance's sockets until shutdown; then closes every
    /// connection (clients reconnect to another instance) and waits for the sockets' disconnect
    /// handlers, so presence is settled before the services after this one stop.
    public func run() async throws {
        // Events are handed on from the bus's own thread: no task switch per event.
        let subscription = bus.subscribe { [weak self] delivery in
            guard case .event(let event) = delivery else { return }
            self?.deliver(event)
        }
        try? await gracefulShutdown()
        subscription.cancel()
        await io.shutdown()
    }

    func deliver(_ event: ClusterEvent) {
        let main = io.main
        switch event {
        case .messageCreated(let message):
            ChatMetrics.busDelivered(
                afterMilliseconds: Timestamp.now().millisecondsSince1970 - message.createdAt.millisecondsSince1970)
            let payload = SocketValue(message)
            let sender = sentBySocket.withLock { $0.removeValue(forKey: message.id)?.socket }
            var recipients = main.to(Self.userRoom(message.receiverID), Self.userRoom(message.senderID))
            if let sender { recipients = recipients.except(sender) }
            recipients.emit("new-message", payload)
        case .messageUpdated(let message), .messageDeleted(let message):
            let payload = SocketValue(message)
            let name = if case .messageUpdated = event { "message-updated" } else { "message-deleted" }
            main.to(Self.userRoom(message.receiverID), Self.userRoom(message.senderID)).emit(name, payload)
        case .messagesRead(let receipt):
            guard let payload = try? SocketValue(encoding: receipt) else { return }
            main.to(Self.userRoom(receipt.with), Self.userRoom(receipt.by)).emit("messages-read", payload)
        case .userOnline(let user):
            main.emit("user-online", ["userId": .string(user.hexString)])
        case .userOffline(let user):
            main.emit("user-offline", ["userId": .string(user.hexString)])
        case .typing(let from, let to):
            main.to(Self.userRoom(to)).emit("typing", ["from": .string(from.hexString)])
        case .stopTyping(let from, let to):
            main.to(Self.userRoom(to)).emit("stop-typing", ["from": .string(from.hexString)])
        case .sessionEnded(let fingerprint):
            for socket in main.to(Self.tokenRoom(fingerprint)).localSockets {
                socket.disconnect()
            }
        }
    }

    /// Browsers send `Origin` on every WebSocket and cross-origin request, and a page cannot
    /// forge it: a page on another site cannot open a socket with the user's cookie. Allowed: no
    /// Origin (not a browser), a configured origin, or the server's own origin (same `Host`).
    static func originAllowed(_ origin: String?, host: String?, allowed: Set<String>) -> Bool {
        guard let origin else { return true }
        if allowed.contains(origin) { return true }
        guard let host = host?.lowercased(), let separator = origin.firstRange(of: "://") else { return false }
        return origin[separator.upperBound...].lowercased() == host
    }

    static func userRoom(_ user: ObjectID) -> String { "user:\(user.hexString)" }
    static func tokenRoom(_ fingerprint: String) -> String { "token:\(fingerprint)" }

    /// The value of a cookie in a request's `Cookie` headers.
    static func cookie(named name: String, in headers: HTTPFields) -> String? {
        for header in headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { continue }
                if parts[0].trimmingCharacters(in: " ") == name { return String(parts[1]).trimmingCharacters(in: " ") }
            }
        }
        return nil
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String {
        String(self).trimmingCharacters(in: set)
    }
}

extension SocketValue {
    /// A message as clients receive it: its JSON form (``Message/writeJSON(into:)``), written
    /// into packets as it is.
    init(_ message: Message) {
        var json = JSONWriter()
        message.writeJSON(into: &json)
        self = .encoded(EncodedJSON(unchecked: json.text))
    }
}
