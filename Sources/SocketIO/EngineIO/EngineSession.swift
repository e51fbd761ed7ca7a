import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import Synchronization

/// Receives what happens on an Engine.IO session. Called on the session's event loop.
public protocol EngineSessionDelegate: AnyObject, Sendable {
    func engineSession(_ session: EngineSession, didReceive message: EngineMessage)
    func engineSession(_ session: EngineSession, didCloseWith reason: EngineCloseReason)
}

/// One Engine.IO connection to one client, over polling, WebSocket, or polling then WebSocket.
///
/// The session lives on one event loop: its state machine (``EngineSessionStateMachine``) is only
/// touched there, and every public method hops there first, so it may be called from anywhere.
/// Transports (a waiting poll, a WebSocket) only feed it events and carry out its actions.
public final class EngineSession: @unchecked Sendable {
    /// The session id (`sid`).
    public let id: String
    /// The request that opened the session.
    public let handshake: EngineHandshake
    public let eventLoop: any EventLoop

    private var machine: EngineSessionStateMachine
    private let upgradeTimeout: TimeAmount
    private var waitingPoll: EventLoopPromise<PollOutcome>?
    private var webSocket: EngineWebSocket?
    private var upgradingWebSocket: EngineWebSocket?
    /// Where the heartbeat timer is armed: one queue for the sessions of an event loop.
    private let heartbeats: EventLoopTimerQueue<EngineSession>
    /// The heartbeat timer's place in `heartbeats`.
    var timerQueueIndex: Int?
    private var upgradeTimer: Scheduled<Void>?
    /// The connection the waiting poll arrived on.
    private var waitingPollConnection: ObjectIdentifier?
    /// Connections whose closing this session already watches (one watch per connection, not
    /// per poll: a keep-alive connection carries many polls).
    private var watchedConnections: Set<ObjectIdentifier> = []
    private var delegate: (any EngineSessionDelegate)?
    private let onClosed: @Sendable (EngineSession) -> Void
    /// The transport in use, readable from any thread (for counts; the state machine is the
    /// truth, on the event loop).
    private let webSocketInUse: Synchronization.Atomic<Bool>

    /// What ties the session to its client (see ``EngineIOServer``'s `sessionBinding`).
    let binding: EngineSessionBinding?

    init(
        id: String,
        handshake: EngineHandshake,
        binding: EngineSessionBinding? = nil,
        transport: EngineSessionStateMachine.Transport,
        configuration: EngineConfiguration,
        eventLoop: any EventLoop,
        heartbeats: EventLoopTimerQueue<EngineSession>? = nil,
        onClosed: @escaping @Sendable (EngineSession) -> Void
    ) {
        precondition(heartbeats.map { $0.eventLoop === eventLoop } ?? true, "heartbeats of another event loop")
        self.heartbeats = heartbeats ?? EventLoopTimerQueue(eventLoop: eventLoop)
        self.id = id
        self.handshake = handshake
        self.binding = binding
        self.eventLoop = eventLoop
        self.upgradeTimeout = TimeAmount(configuration.upgradeTimeout)
        self.machine = EngineSessionStateMachine(transport: transport, configuration: configuration, now: .now())
        self.onClosed = onClosed
        self.webSocketInUse = Synchronization.Atomic(transport == .websocket)
    }

    /// Sets who hears about messages and the close. Set it in the connection callback, before
    /// anything can arrive.
    public func setDelegate(_ delegate: any EngineSessionDelegate) {
        eventLoop.assertInEventLoop()
        self.delegate = delegate
    }

    /// The transport the session uses now, from any thread.
    var currentTransport: EngineSessionStateMachine.Transport {
        webSocketInUse.load(ordering: .relaxed) ? .websocket : .polling
    }

    /// Whether the session is currently using WebSocket.
    public var isWebSocket: Bool {
        eventLoop.assertInEventLoop()
        return machine.transport == .websocket
    }

    /// Sends messages, in order, after anything sent before (including broadcasts).
    public func send(_ messages: [EngineMessage]) {
        let packets = messages.map(EnginePacket.message)
        eventLoop.execute { self.perform(self.machine.send(packets)) }
    }

    public func send(_ message: EngineMessage) {
        send([message])
    }

    /// Sends `messages` now, in order with ``sendOnLoop(_:)-(EncodedBroadcast)``. On the event loop.
    func sendOnLoop(_ messages: [EngineMessage]) {
        eventLoop.assertInEventLoop()
        perform(machine.send(messages.map(EnginePacket.message)))
    }

    /// Sends a broadcast, encoded once for all its recipients: WebSocket sessions take the
    /// ready frames as they are; others go through the state machine. On the event loop.
    func sendOnLoop(_ broadcast: EncodedBroadcast) {
        eventLoop.assertInEventLoop()
        if machine.isOpen, machine.transport == .websocket, let webSocket,
            !(webSocket.base64Binary && broadcast.hasBinary)
        {
            webSocket.writeFrames(broadcast.frames)
        } else {
            perform(machine.send(broadcast.packets))
        }
    }

    /// Closes the session, after anything sent before; the client is told (close packet or
    /// WebSocket close).
    public func close(reason: EngineCloseReason = .forcedClose) {
        eventLoop.execute { self.perform(self.machine.close(reason, now: .now())) }
    }

    private func onLoop(_ body: @escaping @Sendable (EngineSession) -> Void) {
        if eventLoop.inEventLoop {
            body(self)
        } else {
            eventLoop.execute { body(self) }
        }
    }

    // MARK: Start

    /// Arms the heartbeat; for a WebSocket session, writes the handshake as the first frame.
    func start(openPacket: EnginePacket, webSocket: EngineWebSocket?) {
        eventLoop.assertInEventLoop()
        if let webSocket {
            self.webSocket = webSocket
            webSocket.write([openPacket])
        }
        armHeartbeat(at: machine.initialHeartbeatTimer)
    }

    // MARK: Polling

    enum PollOutcome: Sendable {
        case packets([EnginePacket])
        case error(EngineError)
        case duplicate
    }

    /// A GET: answered now or when packets arrive. If the client's connection closes while the
    /// poll waits, the session closes.
    func poll(on connection: any Channel) -> EventLoopFuture<PollOutcome> {
        let connectionID = ObjectIdentifier(connection)
        return eventLoop.flatSubmit {
            let (decision, actions) = self.machine.pollRequested(now: .now())
            switch decision {
            case .respond(let packets):
                self.perform(actions)
                return self.eventLoop.makeSucceededFuture(.packets(packets))
            case .reject(let error):
                self.perform(actions)
                return self.eventLoop.makeSucceededFuture(.error(error))
            case .rejectDuplicate:
                self.perform(actions)
                return self.eventLoop.makeSucceededFuture(.duplicate)
            case .wait:
                let promise = self.eventLoop.makePromise(of: PollOutcome.self)
                self.waitingPoll = promise
                self.waitingPollConnection = connectionID
                if self.watchedConnections.insert(connectionID).inserted {
                    connection.closeFuture.whenComplete { [weak self] _ in
                        guard let self else { return }
                        self.eventLoop.execute { self.connectionClosed(connectionID) }
                    }
                }
                self.perform(actions)
                return promise.futureResult
            }
        }
    }

    private func connectionClosed(_ connection: ObjectIdentifier) {
        watchedConnections.remove(connection)
        guard waitingPoll != nil, waitingPollConnection == connection else { return }
        perform(machine.pollAbandoned())
    }

    func postStarted() -> EventLoopFuture<EngineSessionStateMachine.PostDecision> {
        eventLoop.submit {
            let (decision, actions) = self.machine.postStarted()
            self.perform(actions)
            return decision
        }
    }

    func postFailed(closeSession: Bool) {
        onLoop { $0.perform($0.machine.postFailed(closeSession: closeSession)) }
    }

    func postReceived(_ packets: [EnginePacket], invalid: Bool) -> EventLoopFuture<Void> {
        eventLoop.submit {
            self.perform(self.machine.postReceived(packets, invalid: invalid, now: .now()))
        }
    }

    // MARK: WebSocket

    /// A WebSocket with this session's id completed its handshake.
    func webSocketOpened(_ socket: EngineWebSocket) {
        onLoop { session in
            let (decision, actions) = session.machine.upgradeRequested(
                now: .now(), upgradeTimeout: session.upgradeTimeout)
            switch decision {
            case .attach:
                session.upgradingWebSocket = socket
            case .acceptThenClose, .reject:
                socket.close()
            }
            session.perform(actions)
        }
    }

    /// A packet from one of this session's WebSockets.
    func webSocket(_ socket: EngineWebSocket, received packet: EnginePacket) {
        onLoop { session in
            if socket === session.webSocket {
                session.perform(session.machine.webSocketReceived(packet, now: .now()))
            } else if socket === session.upgradingWebSocket {
                session.perform(session.machine.upgradingWebSocketReceived(packet))
            }
        }
    }

    /// A frame that is not an Engine.IO packet arrived on one of this session's WebSockets.
    func webSocketReceivedInvalidPacket(_ socket: EngineWebSocket) {
        onLoop { session in
            if socket === session.webSocket {
                session.perform(session.machine.receivedInvalidPacket())
            } else if socket === session.upgradingWebSocket {
                session.perform(session.machine.upgradeFailed())
            }
        }
    }

    /// One of this session's WebSockets closed.
    func webSocketClosed(_ socket: EngineWebSocket) {
        onLoop { session in
            if socket === session.webSocket {
                session.webSocket = nil
                session.perform(session.machine.webSocketClosed())
            } else if socket === session.upgradingWebSocket {
                session.upgradingWebSocket = nil
                session.perform(session.machine.upgradeFailed())
            }
        }
    }

    /// The session's WebSocket has more unsent data than allowed.
    func webSocketOverflowed(_ socket: EngineWebSocket) {
        onLoop { session in
            guard socket === session.webSocket else { return }
            session.perform(session.machine.sendBufferOverflowed())
        }
    }

    // MARK: Performing actions

    private func perform(_ actions: EngineSessionStateMachine.Actions) {
        for message in actions.deliver {
            delegate?.engineSession(self, didReceive: message)
        }
        if let packets = actions.completePoll, let poll = waitingPoll {
            waitingPoll = nil
            waitingPollConnection = nil
            poll.succeed(.packets(packets))
        }
        if actions.promoteUpgradingWebSocket {
            webSocket = upgradingWebSocket
            upgradingWebSocket = nil
            webSocketInUse.store(true, ordering: .relaxed)
        }
        if !actions.writeToUpgradingWebSocket.isEmpty {
            upgradingWebSocket?.write(actions.writeToUpgradingWebSocket)
        }
        if !actions.writeToWebSocket.isEmpty {
            webSocket?.write(actions.writeToWebSocket)
        }
        if actions.closeUpgradingWebSocket {
            upgradingWebSocket?.close()
            upgradingWebSocket = nil
        }
        if actions.closeWebSocket {
            webSocket?.close()
            webSocket = nil
        }
        if actions.cancelUpgradeTimer {
            upgradeTimer?.cancel()
            upgradeTimer = nil
        }
        if let deadline = actions.upgradeTimer {
            upgradeTimer?.cancel()
            upgradeTimer = eventLoop.scheduleTask(deadline: deadline) { [self] in
                perform(machine.upgradeFailed())
            }
        }
        if let deadline = actions.heartbeatTimer {
            armHeartbeat(at: deadline)
        }
        if let reason = actions.notifyClosed, let delegate {
            self.delegate = nil
            delegate.engineSession(self, didCloseWith: reason)
        }
        if actions.closed != nil {
            heartbeats.cancel(self)
            upgradeTimer?.cancel()
            upgradeTimer = nil
            if let poll = waitingPoll {
                waitingPoll = nil
                waitingPollConnection = nil
                poll.succeed(.packets([.close]))
            }
            onClosed(self)
        }
    }

    private func armHeartbeat(at deadline: NIODeadline) {
        // A nested close (a delegate closing the session while an outer event is performed) has
        // already stopped the timers.
        guard !machine.isClosed else {
            heartbeats.cancel(self)
            return
        }
        heartbeats.schedule(self, at: deadline)
    }
}

extension EngineSession: EventLoopTimerQueueMember {
    func timerQueueFired() {
        perform(machine.heartbeatTimerFired(now: .now()))
    }
}

/// What the application may know about the request that opened a session.
public struct EngineHandshake: Sendable {
    /// The request headers (cookies, origin, user agent…).
    public var headers: HTTPFields {
        get { packedHeaders.fields }
        set { packedHeaders = PackedStringPairs(newValue) }
    }
    /// The query parameters of the URL (`EIO`, `transport` and the client's own).
    public var query: [String: String] {
        get { packedQuery.dictionary }
        set { packedQuery = PackedStringPairs(newValue) }
    }
    /// The client's address as the connection saw it.
    public var remoteAddress: SocketAddress?
    /// When the session opened.
    public var time: ContinuousClock.Instant

    /// Headers and query as kept for the session's lifetime (see ``PackedStringPairs``).
    var packedHeaders: PackedStringPairs
    var packedQuery: PackedStringPairs

    public init(
        headers: HTTPFields, query: [String: String], remoteAddress: SocketAddress?,
        time: ContinuousClock.Instant = .now
    ) {
        self.packedHeaders = PackedStringPairs(headers)
        self.packedQuery = PackedStringPairs(query)
        self.remoteAddress = remoteAddress
        self.time = time
    }
}

/// Packets encoded once for many sessions: as Engine.IO packets and as complete WebSocket frames.
struct EncodedBroadcast: Sendable {
    let packets: [EnginePacket]
    let frames: [ByteBuffer]
    /// Whether a frame is binary (base64 clients then get their own encoding).
    let hasBinary: Bool

    init(_ packets: [EnginePacket], allocator: ByteBufferAllocator = .init()) {
        self.packets = packets
        self.frames = WebSocketFrameEncoding.frames(for: packets, allocator: allocator)
        self.hasBinary = packets.contains { if case .message(.binary) = $0 { true } else { false } }
    }

    private init(packets: [EnginePacket], frames: [ByteBuffer], hasBinary: Bool) {
        self.packets = packets
        self.frames = frames
        self.hasBinary = hasBinary
    }

    /// The same broadcast with frames in buffers of its own (packets stay shared: only
    /// long-polling clients use them).
    func copied(allocator: ByteBufferAllocator) -> EncodedBroadcast {
        let frames = self.frames.map { frame in
            var copy = allocator.buffer(capacity: frame.readableBytes)
            copy.writeImmutableBuffer(frame)
            return copy
        }
        return EncodedBroadcast(packets: packets, frames: frames, hasBinary: hasBinary)
    }
}
