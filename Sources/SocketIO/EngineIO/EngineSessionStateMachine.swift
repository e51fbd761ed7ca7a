import NIOCore

/// The protocol state of one Engine.IO session: transports, the upgrade, heartbeats, buffering
/// and closing — without any I/O.
///
/// Every event is a `mutating` method that returns ``Actions`` for the driver
/// (``EngineSession``) to perform in a fixed order: deliver received messages, answer the waiting
/// poll, write to the WebSocket, close transports, (re)arm timers, report the session closed. The
/// machine never loses or reorders a packet: while polling, packets wait in ``outbox`` for the
/// next poll; during an upgrade they keep waiting (polls get `noop`) until the client's `5`, then
/// go out on the WebSocket in order.
struct EngineSessionStateMachine {
    enum Transport: Equatable {
        case polling
        case websocket
    }

    enum Upgrade: Equatable {
        case none
        /// A WebSocket is open for this session; the client has not sent `2probe` yet.
        case awaitingProbe
        /// `3probe` was sent; waiting for `5`. Polls get `noop`.
        case probed
    }

    enum Heartbeat: Equatable {
        /// The next ping is due at the deadline.
        case waitingToPing(NIODeadline)
        /// A ping is out; the pong is due by the deadline.
        case awaitingPong(NIODeadline)
    }

    /// What the driver must do after an event, in this order.
    struct Actions: Equatable {
        /// Messages from the client, for the application, in order.
        var deliver: [EngineMessage] = []
        /// Answer the waiting poll with these packets.
        var completePoll: [EnginePacket]?
        /// Write these packets, in order, to the session's WebSocket.
        var writeToWebSocket: [EnginePacket] = []
        /// Write these to the WebSocket that is upgrading (the `3probe`).
        var writeToUpgradingWebSocket: [EnginePacket] = []
        /// The upgrading WebSocket becomes the session's transport (before `writeToWebSocket`).
        var promoteUpgradingWebSocket = false
        var closeUpgradingWebSocket = false
        var closeWebSocket = false
        /// Arm the heartbeat timer for this deadline (replacing any earlier one).
        var heartbeatTimer: NIODeadline?
        var upgradeTimer: NIODeadline?
        var cancelUpgradeTimer = false
        /// Tell the application the session is closed (nothing more can be sent).
        var notifyClosed: EngineCloseReason?
        /// The session is over: stop timers and forget it.
        var closed: EngineCloseReason?

        static let none = Actions()
    }

    let pingInterval: TimeAmount
    let pingTimeout: TimeAmount
    let maxBufferedBytes: Int
    let closeTimeout: TimeAmount

    /// Where the session is. One value holds everything that varies, so that no impossible
    /// combination (a WebSocket session with a waiting poll, a closed one mid-upgrade) can be
    /// written down.
    private enum State {
        /// Open on HTTP long-polling (a WebSocket upgrade may be under way).
        case polling(Polling)
        /// Open on a WebSocket.
        case websocket(heartbeat: Heartbeat)
        /// Closed while polling with no poll waiting: the next poll gets `reply` (the close
        /// packet, after what was still queued, when the server closed; a noop when the client
        /// did), or the deadline passes.
        case closing(reason: EngineCloseReason, deadline: NIODeadline, reply: EnginePacket, outbox: [EnginePacket])
        case closed(EngineCloseReason)
    }

    /// An open polling session.
    private struct Polling {
        var heartbeat: Heartbeat
        var upgrade = Upgrade.none
        /// A poll (GET) is waiting for packets.
        var pollWaiting = false
        /// A POST is being read.
        var postInFlight = false
        /// Packets waiting for the next poll (or for the end of an upgrade).
        var outbox: [EnginePacket] = []
        var outboxBytes = 0

        mutating func takeOutbox() -> [EnginePacket] {
            defer {
                outbox = []
                outboxBytes = 0
            }
            return outbox
        }
    }

    private var state: State

    /// A session just opened (its handshake answered) on `transport`.
    init(
        transport: Transport,
        configuration: EngineConfiguration,
        now: NIODeadline
    ) {
        self.pingInterval = TimeAmount(configuration.pingInterval)
        self.pingTimeout = TimeAmount(configuration.pingTimeout)
        self.maxBufferedBytes = configuration.maxBufferedBytes
        self.closeTimeout = TimeAmount(configuration.closeTimeout)
        let heartbeat = Heartbeat.waitingToPing(now + pingInterval)
        switch transport {
        case .polling: state = .polling(Polling(heartbeat: heartbeat))
        case .websocket: state = .websocket(heartbeat: heartbeat)
        }
    }

    /// The timer to arm right after opening.
    var initialHeartbeatTimer: NIODeadline {
        switch heartbeat {
        case .waitingToPing(let deadline)?, .awaitingPong(let deadline)?: deadline
        case nil: .now()
        }
    }

    var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    var isOpen: Bool {
        switch state {
        case .polling, .websocket: true
        case .closing, .closed: false
        }
    }

    /// The transport in use: WebSocket only while the session is open on one.
    var transport: Transport {
        if case .websocket = state { return .websocket }
        return .polling
    }

    var upgrade: Upgrade {
        if case .polling(let polling) = state { return polling.upgrade }
        return .none
    }

    var pollWaiting: Bool {
        if case .polling(let polling) = state { return polling.pollWaiting }
        return false
    }

    var outbox: [EnginePacket] {
        switch state {
        case .polling(let polling): polling.outbox
        case .closing(_, _, _, let outbox): outbox
        case .websocket, .closed: []
        }
    }

    var heartbeat: Heartbeat? {
        switch state {
        case .polling(let polling): polling.heartbeat
        case .websocket(let heartbeat): heartbeat
        case .closing, .closed: nil
        }
    }

    // MARK: Sending

    /// The application sends packets.
    mutating func send(_ packets: [EnginePacket]) -> Actions {
        guard isOpen else { return .none }
        var actions = Actions()
        enqueue(packets, into: &actions)
        return actions
    }

    private mutating func enqueue(_ packets: [EnginePacket], into actions: inout Actions) {
        switch state {
        case .websocket:
            actions.writeToWebSocket.append(contentsOf: packets)
        case .polling(var polling):
            // `state` still holds the outbox: appending to the copy would copy every packet
            // queued first, each time, quadratic in the queue (one POST of 100,000 CONNECTs to
            // unknown namespaces, each answered, held the event loop for a minute). Every path
            // below puts the state back.
            state = .closed(.forcedClose)
            polling.outbox.append(contentsOf: packets)
            polling.outboxBytes += packets.reduce(0) { $0 + $1.estimatedSize }
            if polling.pollWaiting, polling.upgrade != .probed {
                polling.pollWaiting = false
                actions.completePoll = polling.takeOutbox()
                state = .polling(polling)
            } else if polling.outboxBytes > maxBufferedBytes {
                state = .polling(polling)
                close(.sendBufferFull, into: &actions)
            } else {
                state = .polling(polling)
            }
        case .closing, .closed:
            break
        }
    }

    // MARK: HTTP long-polling

    enum PollDecision: Equatable {
        /// Answer now with these packets.
        case respond([EnginePacket])
        /// Hold the request until ``Actions/completePoll`` says what to answer.
        case wait
        /// Refuse with an Engine.IO error (the session is gone or not polling).
        case reject(EngineError)
        /// A second poll while one waits: answer this one 400 with an empty body (the session
        /// closes, and the waiting one gets the close packet through the actions).
        case rejectDuplicate
    }

    /// A GET arrives.
    mutating func pollRequested(now: NIODeadline) -> (PollDecision, Actions) {
        var actions = Actions()
        switch state {
        case .closed:
            return (.reject(.unknownSessionID), .none)
        case .closing(let reason, _, let reply, let outbox):
            state = .closed(reason)
            actions.closed = reason
            var packets = reply == .close ? outbox : []
            packets.append(reply)
            return (.respond(packets), actions)
        case .websocket:
            return (.reject(.badRequest), .none)
        case .polling(var polling):
            // A timer may fire a little late; the deadline is what counts.
            if case .awaitingPong(let deadline) = polling.heartbeat, now >= deadline {
                close(.pingTimeout, into: &actions)
                return (.reject(.unknownSessionID), actions)
            }
            if polling.pollWaiting {
                polling.pollWaiting = false
                state = .polling(polling)
                actions.completePoll = [.close]
                close(.transportError, into: &actions)
                return (.rejectDuplicate, actions)
            }
            if polling.upgrade == .probed {
                return (.respond([.noop]), .none)
            }
            if !polling.outbox.isEmpty {
                let packets = polling.takeOutbox()
                state = .polling(polling)
                return (.respond(packets), .none)
            }
            polling.pollWaiting = true
            state = .polling(polling)
            return (.wait, .none)
        }
    }

    /// The client went away while its poll was waiting.
    mutating func pollAbandoned() -> Actions {
        guard case .polling(var polling) = state, polling.pollWaiting else { return .none }
        polling.pollWaiting = false
        state = .polling(polling)
        var actions = Actions()
        close(.transportClose, into: &actions)
        return actions
    }

    enum PostDecision: Equatable {
        /// Read the body.
        case accept
        case reject(EngineError)
        /// Another POST is being read: answer 400 with an empty body; the session closes.
        case rejectOverlap
    }

    /// A POST arrives (before its body is read).
    mutating func postStarted() -> (PostDecision, Actions) {
        switch state {
        case .closing, .closed:
            return (.reject(.unknownSessionID), .none)
        case .websocket:
            return (.reject(.badRequest), .none)
        case .polling(var polling):
            if polling.postInFlight {
                var actions = Actions()
                close(.transportError, into: &actions)
                return (.rejectOverlap, actions)
            }
            polling.postInFlight = true
            state = .polling(polling)
            return (.accept, .none)
        }
    }

    /// A POST body could not be used (too large: the session stays; otherwise it closes).
    mutating func postFailed(closeSession: Bool) -> Actions {
        postEnded()
        guard closeSession else { return .none }
        var actions = Actions()
        close(.parseError, into: &actions)
        return actions
    }

    private mutating func postEnded() {
        guard case .polling(var polling) = state else { return }
        polling.postInFlight = false
        state = .polling(polling)
    }

    /// A POST body was read and decoded (up to its first invalid packet, if any). It may end
    /// after an upgrade completed: its packets still count.
    mutating func postReceived(
        _ packets: [EnginePacket],
        invalid: Bool,
        now: NIODeadline
    ) -> Actions {
        postEnded()
        var actions = Actions()
        for packet in packets {
            guard isOpen else { break }
            switch packet {
            case .message(let message):
                actions.deliver.append(message)
            case .pong:
                receivedPong(now: now, into: &actions)
            case .close:
                if case .polling(var polling) = state {
                    if polling.pollWaiting {
                        polling.pollWaiting = false
                        state = .polling(polling)
                        actions.completePoll = [.noop]
                        close(.transportClose, into: &actions)
                    } else {
                        // A poll may already be on its way on another connection: it gets a noop.
                        beginClosing(.transportClose, deadline: now + pingTimeout, reply: .noop, into: &actions)
                    }
                } else {
                    close(.transportClose, into: &actions)
                }
            case .ping:
                // Engine.IO v4 clients never ping.
                close(.transportError, into: &actions)
            case .open, .upgrade, .noop:
                break
            }
        }
        if invalid, isOpen {
            close(.parseError, into: &actions)
        }
        return actions
    }

    // MARK: WebSocket

    enum UpgradeDecision: Equatable {
        /// Use this WebSocket as the upgrading transport.
        case attach
        /// Complete the WebSocket handshake, then close it (the session has, or is getting, one).
        case acceptThenClose
        case reject(EngineError)
    }

    /// A WebSocket with this session's id opens.
    mutating func upgradeRequested(now: NIODeadline, upgradeTimeout: TimeAmount) -> (UpgradeDecision, Actions) {
        switch state {
        case .closing, .closed:
            return (.reject(.unknownSessionID), .none)
        case .websocket:
            return (.acceptThenClose, .none)
        case .polling(var polling):
            guard polling.upgrade == .none else { return (.acceptThenClose, .none) }
            polling.upgrade = .awaitingProbe
            state = .polling(polling)
            var actions = Actions()
            actions.upgradeTimer = now + upgradeTimeout
            return (.attach, actions)
        }
    }

    /// A packet arrives on the upgrading WebSocket.
    mutating func upgradingWebSocketReceived(_ packet: EnginePacket) -> Actions {
        var actions = Actions()
        guard case .polling(var polling) = state else {
            // No upgrade is under way (the session moved on or closed): drop that WebSocket.
            actions.closeUpgradingWebSocket = true
            actions.cancelUpgradeTimer = true
            return actions
        }
        switch (polling.upgrade, packet) {
        case (.awaitingProbe, .ping("probe")):
            polling.upgrade = .probed
            actions.writeToUpgradingWebSocket = [.pong("probe")]
            // Release the client's waiting poll so it can pause polling and send `5`.
            if polling.pollWaiting {
                polling.pollWaiting = false
                actions.completePoll = [.noop]
            }
            state = .polling(polling)
        case (.probed, .upgrade):
            actions.cancelUpgradeTimer = true
            actions.promoteUpgradingWebSocket = true
            if polling.pollWaiting {
                actions.completePoll = [.noop]
            }
            actions.writeToWebSocket = polling.takeOutbox()
            state = .websocket(heartbeat: polling.heartbeat)
        case (.probed, .noop):
            break
        default:
            // Anything else is not an upgrade: drop the WebSocket, keep polling.
            cancelUpgrade(into: &actions)
        }
        return actions
    }

    /// The upgrading WebSocket closed, or the upgrade took too long.
    mutating func upgradeFailed() -> Actions {
        guard upgrade != .none else { return .none }
        var actions = Actions()
        cancelUpgrade(into: &actions)
        return actions
    }

    private mutating func cancelUpgrade(into actions: inout Actions) {
        actions.closeUpgradingWebSocket = true
        actions.cancelUpgradeTimer = true
        guard case .polling(var polling) = state else { return }
        polling.upgrade = .none
        // Packets held back during the probe can go to the next poll again.
        if polling.pollWaiting, !polling.outbox.isEmpty {
            polling.pollWaiting = false
            actions.completePoll = polling.takeOutbox()
        }
        state = .polling(polling)
    }

    /// A packet arrives on the session's WebSocket.
    mutating func webSocketReceived(_ packet: EnginePacket, now: NIODeadline) -> Actions {
        guard case .websocket = state else { return .none }
        var actions = Actions()
        switch packet {
        case .message(let message):
            actions.deliver.append(message)
        case .pong:
            receivedPong(now: now, into: &actions)
        case .close:
            close(.transportClose, into: &actions)
        case .ping:
            close(.transportError, into: &actions)
        case .open, .upgrade, .noop:
            break
        }
        return actions
    }

    /// The session's WebSocket closed (or failed).
    mutating func webSocketClosed() -> Actions {
        guard case .websocket = state else { return .none }
        var actions = Actions()
        close(.transportClose, into: &actions)
        return actions
    }

    /// A packet the client sent could not be decoded.
    mutating func receivedInvalidPacket() -> Actions {
        guard isOpen else { return .none }
        var actions = Actions()
        close(.parseError, into: &actions)
        return actions
    }

    /// The client cannot keep up with what is sent to it.
    mutating func sendBufferOverflowed() -> Actions {
        guard isOpen else { return .none }
        var actions = Actions()
        close(.sendBufferFull, into: &actions)
        return actions
    }

    // MARK: Heartbeat

    /// The heartbeat timer fired.
    mutating func heartbeatTimerFired(now: NIODeadline) -> Actions {
        var actions = Actions()
        switch state {
        case .closed:
            return .none
        case .closing(let reason, let deadline, _, _):
            if now >= deadline {
                state = .closed(reason)
                actions.closed = reason
            } else {
                actions.heartbeatTimer = deadline
            }
            return actions
        case .polling, .websocket:
            break
        }
        switch heartbeat {
        case .waitingToPing(let deadline)?:
            guard now >= deadline else {
                actions.heartbeatTimer = deadline
                return actions
            }
            let pongDeadline = now + pingTimeout
            setHeartbeat(.awaitingPong(pongDeadline))
            enqueue([.ping(nil)], into: &actions)
            if isOpen { actions.heartbeatTimer = pongDeadline }
        case .awaitingPong(let deadline)?:
            guard now >= deadline else {
                actions.heartbeatTimer = deadline
                return actions
            }
            close(.pingTimeout, into: &actions)
        case nil:
            break
        }
        return actions
    }

    private mutating func receivedPong(now: NIODeadline, into actions: inout Actions) {
        guard case .awaitingPong = heartbeat else { return }
        let next = now + pingInterval
        setHeartbeat(.waitingToPing(next))
        actions.heartbeatTimer = next
    }

    private mutating func setHeartbeat(_ heartbeat: Heartbeat) {
        switch state {
        case .polling(var polling):
            polling.heartbeat = heartbeat
            state = .polling(polling)
        case .websocket:
            state = .websocket(heartbeat: heartbeat)
        case .closing, .closed:
            break
        }
    }

    // MARK: Closing

    /// The server closes the session.
    mutating func close(_ reason: EngineCloseReason, now: NIODeadline) -> Actions {
        var actions = Actions()
        switch state {
        case .closing, .closed:
            return .none
        case .websocket:
            close(reason, into: &actions)
        case .polling(var polling):
            guard polling.pollWaiting else {
                // Nobody to tell right now: the next poll gets the close packet.
                beginClosing(reason, deadline: now + closeTimeout, reply: .close, into: &actions)
                return actions
            }
            polling.pollWaiting = false
            var packets = polling.takeOutbox()
            packets.append(.close)
            actions.completePoll = packets
            state = .polling(polling)
            close(reason, into: &actions)
        }
        return actions
    }

    /// Closes a polling session that has no poll waiting: it lingers until the next poll.
    private mutating func beginClosing(
        _ reason: EngineCloseReason,
        deadline: NIODeadline,
        reply: EnginePacket,
        into actions: inout Actions
    ) {
        guard case .polling = state else { return }
        if upgrade != .none { cancelUpgrade(into: &actions) }
        state = .closing(reason: reason, deadline: deadline, reply: reply, outbox: outbox)
        actions.notifyClosed = reason
        actions.heartbeatTimer = deadline
    }

    /// Ends the session now.
    private mutating func close(_ reason: EngineCloseReason, into actions: inout Actions) {
        switch state {
        case .closing, .closed:
            return
        case .websocket:
            actions.closeWebSocket = true
        case .polling(let polling):
            if polling.pollWaiting, actions.completePoll == nil { actions.completePoll = [.close] }
            if polling.upgrade != .none { actions.closeUpgradingWebSocket = true }
        }
        state = .closed(reason)
        actions.cancelUpgradeTimer = true
        actions.notifyClosed = reason
        actions.closed = reason
    }
}

/// Why an Engine.IO session ended.
public enum EngineCloseReason: String, Sendable, Hashable {
    /// The client closed the connection or sent a close packet.
    case transportClose = "transport close"
    /// The client broke the protocol (two polls at once, a ping from the client).
    case transportError = "transport error"
    /// The client sent something that is not Engine.IO.
    case parseError = "parse error"
    case pingTimeout = "ping timeout"
    /// The client did not read what was sent to it fast enough.
    case sendBufferFull = "send buffer full"
    /// The application closed it.
    case forcedClose = "forced close"
    /// The server is shutting down.
    case serverShuttingDown = "server shutting down"
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
