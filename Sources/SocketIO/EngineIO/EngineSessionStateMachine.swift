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

    enum Lifecycle: Equatable {
        case open
        /// Closed while polling with no poll waiting: the next poll gets `reply` (the close packet
        /// when the server closed, a noop when the client did), or the deadline passes.
        case closing(reason: EngineCloseReason, deadline: NIODeadline, reply: EnginePacket)
        case closed(EngineCloseReason)
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

    private(set) var transport: Transport
    private(set) var upgrade: Upgrade = .none
    private(set) var heartbeat: Heartbeat
    private(set) var lifecycle: Lifecycle = .open
    /// A poll (GET) is waiting for packets.
    private(set) var pollWaiting = false
    /// A POST is being read.
    private(set) var postInFlight = false
    /// Packets waiting for the next poll (polling, or during an upgrade).
    private(set) var outbox: [EnginePacket] = []
    private var outboxBytes = 0

    /// A session just opened (its handshake answered) on `transport`.
    init(
        transport: Transport,
        configuration: EngineConfiguration,
        now: NIODeadline
    ) {
        self.transport = transport
        self.pingInterval = TimeAmount(configuration.pingInterval)
        self.pingTimeout = TimeAmount(configuration.pingTimeout)
        self.maxBufferedBytes = configuration.maxBufferedBytes
        self.closeTimeout = TimeAmount(configuration.closeTimeout)
        self.heartbeat = .waitingToPing(now + pingInterval)
    }

    /// The timer to arm right after opening.
    var initialHeartbeatTimer: NIODeadline {
        switch heartbeat {
        case .waitingToPing(let deadline), .awaitingPong(let deadline): deadline
        }
    }

    var isClosed: Bool {
        if case .closed = lifecycle { return true }
        return false
    }

    var isOpen: Bool { lifecycle == .open }

    // MARK: Sending

    /// The application sends packets.
    mutating func send(_ packets: [EnginePacket]) -> Actions {
        guard lifecycle == .open else { return .none }
        var actions = Actions()
        enqueue(packets, into: &actions)
        return actions
    }

    private mutating func enqueue(_ packets: [EnginePacket], into actions: inout Actions) {
        switch transport {
        case .websocket:
            actions.writeToWebSocket.append(contentsOf: packets)
        case .polling:
            outbox.append(contentsOf: packets)
            outboxBytes += packets.reduce(0) { $0 + $1.estimatedSize }
            if pollWaiting, upgrade != .probed {
                pollWaiting = false
                actions.completePoll = takeOutbox()
            } else if outboxBytes > maxBufferedBytes {
                close(.sendBufferFull, into: &actions)
            }
        }
    }

    private mutating func takeOutbox() -> [EnginePacket] {
        defer {
            outbox = []
            outboxBytes = 0
        }
        return outbox
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
        switch lifecycle {
        case .closed:
            return (.reject(.unknownSessionID), .none)
        case .closing(let reason, _, let reply):
            lifecycle = .closed(reason)
            actions.closed = reason
            var packets = reply == .close ? takeOutbox() : []
            packets.append(reply)
            return (.respond(packets), actions)
        case .open:
            break
        }
        guard transport == .polling else { return (.reject(.badRequest), .none) }
        // A timer may fire a little late; the deadline is what counts.
        if case .awaitingPong(let deadline) = heartbeat, now >= deadline {
            close(.pingTimeout, into: &actions)
            return (.reject(.unknownSessionID), actions)
        }
        if pollWaiting {
            pollWaiting = false
            actions.completePoll = [.close]
            close(.transportError, into: &actions)
            return (.rejectDuplicate, actions)
        }
        if upgrade == .probed {
            return (.respond([.noop]), .none)
        }
        if !outbox.isEmpty {
            return (.respond(takeOutbox()), .none)
        }
        pollWaiting = true
        return (.wait, .none)
    }

    /// The client went away while its poll was waiting.
    mutating func pollAbandoned() -> Actions {
        guard pollWaiting else { return .none }
        pollWaiting = false
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
        guard lifecycle == .open else { return (.reject(.unknownSessionID), .none) }
        guard transport == .polling else { return (.reject(.badRequest), .none) }
        if postInFlight {
            var actions = Actions()
            close(.transportError, into: &actions)
            return (.rejectOverlap, actions)
        }
        postInFlight = true
        return (.accept, .none)
    }

    /// A POST body could not be used (too large: the session stays; otherwise it closes).
    mutating func postFailed(closeSession: Bool) -> Actions {
        postInFlight = false
        guard closeSession else { return .none }
        var actions = Actions()
        close(.parseError, into: &actions)
        return actions
    }

    /// A POST body was read and decoded (up to its first invalid packet, if any).
    mutating func postReceived(
        _ packets: [EnginePacket],
        invalid: Bool,
        now: NIODeadline
    ) -> Actions {
        postInFlight = false
        var actions = Actions()
        for packet in packets {
            guard lifecycle == .open else { break }
            switch packet {
            case .message(let message):
                actions.deliver.append(message)
            case .pong:
                receivedPong(now: now, into: &actions)
            case .close:
                if pollWaiting {
                    pollWaiting = false
                    actions.completePoll = [.noop]
                    close(.transportClose, into: &actions)
                } else {
                    // A poll may already be on its way on another connection: it gets a noop.
                    beginClosing(.transportClose, deadline: now + pingTimeout, reply: .noop, into: &actions)
                }
            case .ping:
                // Engine.IO v4 clients never ping.
                close(.transportError, into: &actions)
            case .open, .upgrade, .noop:
                break
            }
        }
        if invalid, lifecycle == .open {
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
        guard lifecycle == .open else { return (.reject(.unknownSessionID), .none) }
        guard transport == .polling, upgrade == .none else { return (.acceptThenClose, .none) }
        upgrade = .awaitingProbe
        var actions = Actions()
        actions.upgradeTimer = now + upgradeTimeout
        return (.attach, actions)
    }

    /// A packet arrives on the upgrading WebSocket.
    mutating func upgradingWebSocketReceived(_ packet: EnginePacket) -> Actions {
        var actions = Actions()
        switch (upgrade, packet) {
        case (.awaitingProbe, .ping("probe")):
            upgrade = .probed
            actions.writeToUpgradingWebSocket = [.pong("probe")]
            // Release the client's waiting poll so it can pause polling and send `5`.
            if pollWaiting {
                pollWaiting = false
                actions.completePoll = [.noop]
            }
        case (.probed, .upgrade):
            upgrade = .none
            transport = .websocket
            actions.cancelUpgradeTimer = true
            actions.promoteUpgradingWebSocket = true
            if pollWaiting {
                pollWaiting = false
                actions.completePoll = [.noop]
            }
            actions.writeToWebSocket = takeOutbox()
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
        upgrade = .none
        actions.closeUpgradingWebSocket = true
        actions.cancelUpgradeTimer = true
        // Packets held back during the probe can go to the next poll again.
        if pollWaiting, !outbox.isEmpty {
            pollWaiting = false
            actions.completePoll = takeOutbox()
        }
    }

    /// A packet arrives on the session's WebSocket.
    mutating func webSocketReceived(_ packet: EnginePacket, now: NIODeadline) -> Actions {
        guard lifecycle == .open, transport == .websocket else { return .none }
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
        guard lifecycle == .open, transport == .websocket else { return .none }
        var actions = Actions()
        close(.transportClose, into: &actions)
        return actions
    }

    /// A packet the client sent could not be decoded.
    mutating func receivedInvalidPacket() -> Actions {
        guard lifecycle == .open else { return .none }
        var actions = Actions()
        close(.parseError, into: &actions)
        return actions
    }

    /// The client cannot keep up with what is sent to it.
    mutating func sendBufferOverflowed() -> Actions {
        guard lifecycle == .open else { return .none }
        var actions = Actions()
        close(.sendBufferFull, into: &actions)
        return actions
    }

    // MARK: Heartbeat

    /// The heartbeat timer fired.
    mutating func heartbeatTimerFired(now: NIODeadline) -> Actions {
        var actions = Actions()
        switch lifecycle {
        case .closed:
            return .none
        case .closing(let reason, let deadline, _):
            if now >= deadline {
                lifecycle = .closed(reason)
                actions.closed = reason
            } else {
                actions.heartbeatTimer = deadline
            }
            return actions
        case .open:
            break
        }
        switch heartbeat {
        case .waitingToPing(let deadline):
            guard now >= deadline else {
                actions.heartbeatTimer = deadline
                return actions
            }
            let pongDeadline = now + pingTimeout
            heartbeat = .awaitingPong(pongDeadline)
            enqueue([.ping(nil)], into: &actions)
            if lifecycle == .open { actions.heartbeatTimer = pongDeadline }
        case .awaitingPong(let deadline):
            guard now >= deadline else {
                actions.heartbeatTimer = deadline
                return actions
            }
            close(.pingTimeout, into: &actions)
        }
        return actions
    }

    private mutating func receivedPong(now: NIODeadline, into actions: inout Actions) {
        guard case .awaitingPong = heartbeat else { return }
        let next = now + pingInterval
        heartbeat = .waitingToPing(next)
        actions.heartbeatTimer = next
    }

    // MARK: Closing

    /// The server closes the session.
    mutating func close(_ reason: EngineCloseReason, now: NIODeadline) -> Actions {
        guard lifecycle == .open else { return .none }
        var actions = Actions()
        if transport == .polling, !pollWaiting {
            // Nobody to tell right now: the next poll gets the close packet.
            beginClosing(reason, deadline: now + closeTimeout, reply: .close, into: &actions)
            return actions
        }
        if transport == .polling, pollWaiting {
            pollWaiting = false
            var packets = takeOutbox()
            packets.append(.close)
            actions.completePoll = packets
        }
        close(reason, into: &actions)
        return actions
    }

    private mutating func beginClosing(
        _ reason: EngineCloseReason,
        deadline: NIODeadline,
        reply: EnginePacket,
        into actions: inout Actions
    ) {
        if upgrade != .none { cancelUpgrade(into: &actions) }
        lifecycle = .closing(reason: reason, deadline: deadline, reply: reply)
        actions.notifyClosed = reason
        actions.heartbeatTimer = deadline
    }

    /// Ends the session now.
    private mutating func close(_ reason: EngineCloseReason, into actions: inout Actions) {
        guard case .open = lifecycle else { return }
        lifecycle = .closed(reason)
        if pollWaiting {
            pollWaiting = false
            if actions.completePoll == nil { actions.completePoll = [.close] }
        }
        if transport == .websocket { actions.closeWebSocket = true }
        if upgrade != .none {
            upgrade = .none
            actions.closeUpgradingWebSocket = true
        }
        actions.cancelUpgradeTimer = true
        outbox = []
        outboxBytes = 0
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
