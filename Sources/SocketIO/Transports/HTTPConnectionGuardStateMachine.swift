import NIOCore
import NIOHTTP1

/// The time limits of an HTTP/1.1 connection and what a malformed request gets, as a state
/// machine without I/O: ``HTTPConnectionGuard`` feeds it the connection's request and response
/// parts, parse errors and timer expiries, and performs the actions it returns.
///
/// - A request's head must arrive within ``Limits/requestHead`` of the connection opening, and
///   the next one within ``Limits/idle`` of the previous response (keep-alive).
/// - While a request's body is arriving, ``Limits/requestBody`` may pass between two reads.
/// - While a request is being answered (a long-poll waiting for packets, a handler at work) no
///   limit applies: the application bounds its own work.
/// - A request the HTTP parser refuses gets `400` (`431` when its head is too large), after any
///   response already under way, and the connection closes.
///
/// The deadline only moves forward on reads, so a body that streams does not reschedule a timer
/// per chunk: when the timer fires early it is set again for the rest.
public struct HTTPConnectionGuardStateMachine: Sendable {
    /// How long a connection may wait for each part of a request. The defaults are nginx's
    /// (`client_header_timeout`, `client_body_timeout` 60 s, `keepalive_timeout` 75 s); an idle
    /// limit above the 60 s that proxies keep idle upstream connections avoids closing one a proxy
    /// is about to reuse.
    public struct Limits: Sendable, Equatable {
        public var requestHead: TimeAmount
        public var requestBody: TimeAmount
        public var idle: TimeAmount

        public init(
            requestHead: TimeAmount = .seconds(60),
            requestBody: TimeAmount = .seconds(60),
            idle: TimeAmount = .seconds(75)
        ) {
            self.requestHead = requestHead
            self.requestBody = requestBody
            self.idle = idle
        }
    }

    public enum Action: Equatable, Sendable {
        case none
        /// Arm the one timer for this deadline (replacing any armed one).
        case schedule(NIODeadline)
        case cancelTimer
        /// Write a response with this status, `Connection: close` and no body, then close.
        case respondAndClose(HTTPResponseStatus)
        case close
    }

    private enum Phase: Equatable {
        /// Waiting for a request's head; `first` until one has arrived on the connection.
        case awaitingHead(first: Bool)
        /// A request's head arrived, its end has not.
        case receivingRequest
        /// The last request arrived whole; its response is not finished.
        case answering
        case closed
    }

    private let limits: Limits
    private var phase = Phase.awaitingHead(first: true)
    /// Requests whose response has not ended (with pipelining, one may be received while
    /// another is answered).
    private var unanswered = 0
    private var responseInFlight = false
    /// A parse error met while a response was under way: answered once that response ends.
    private var pendingRefusal: HTTPResponseStatus?
    /// Close once no request is outstanding (the server is shutting down).
    private var closeWhenIdle = false
    /// When the connection is closed if nothing happens first.
    private var deadline: NIODeadline?
    /// When the armed timer fires.
    private var armed: NIODeadline?

    public init(limits: Limits) {
        self.limits = limits
    }

    /// The connection is open.
    public mutating func connectionStarted(now: NIODeadline) -> Action {
        deadline = now + limits.requestHead
        return arm()
    }

    /// A request part came in (the decoder produced it).
    public mutating func requestPartReceived(_ part: HTTPServerRequestPart, now: NIODeadline) -> Action {
        guard phase != .closed else { return .none }
        switch part {
        case .head:
            unanswered += 1
            phase = .receivingRequest
            deadline = now + limits.requestBody
        case .body:
            deadline = now + limits.requestBody
        case .end:
            phase = .answering
            deadline = nil
            // Answered already (an early refusal, before the body was read to its end).
            if unanswered == 0 { return becomeIdle(now: now) }
        }
        return arm()
    }

    /// A response part is being written.
    public mutating func responsePartWritten(_ part: HTTPServerResponsePart, now: NIODeadline) -> Action {
        guard phase != .closed else { return .none }
        switch part {
        case .head(let head):
            if head.status.code >= 200 { responseInFlight = true }
            return .none
        case .body:
            return .none
        case .end:
            responseInFlight = false
            unanswered = max(0, unanswered - 1)
            if let status = pendingRefusal {
                phase = .closed
                return .respondAndClose(status)
            }
            if phase == .answering, unanswered == 0 { return becomeIdle(now: now) }
            return arm()
        }
    }

    /// Every request is answered: wait for the next one, or close when shutting down.
    private mutating func becomeIdle(now: NIODeadline) -> Action {
        if closeWhenIdle {
            phase = .closed
            return .close
        }
        phase = .awaitingHead(first: false)
        deadline = now + limits.idle
        return arm()
    }

    /// The decoder refused the bytes it was given; it reads nothing more after this.
    public mutating func parseFailed(_ error: HTTPParserError) -> Action {
        guard phase != .closed else { return .none }
        let status: HTTPResponseStatus = error == .headerOverflow ? .requestHeaderFieldsTooLarge : .badRequest
        if responseInFlight {
            if phase == .receivingRequest {
                // The request being answered is the broken one: nothing sensible can follow.
                phase = .closed
                return .close
            }
            pendingRefusal = status
            deadline = nil
            return arm()
        }
        phase = .closed
        return .respondAndClose(status)
    }

    /// The armed timer fired.
    public mutating func timerFired(now: NIODeadline) -> Action {
        armed = nil
        guard phase != .closed, let deadline else { return .none }
        guard now >= deadline else { return arm() }
        let wasReceiving = phase == .receivingRequest
        phase = .closed
        return wasReceiving && !responseInFlight ? .respondAndClose(.requestTimeout) : .close
    }

    /// The server is shutting down: an idle connection closes now, a busy one after its answer.
    public mutating func quiesce() -> Action {
        switch phase {
        case .awaitingHead:
            phase = .closed
            return .close
        case .receivingRequest, .answering:
            closeWhenIdle = true
            return .none
        case .closed:
            return .none
        }
    }

    /// Arms the timer for ``deadline`` unless one that fires no later is armed already.
    private mutating func arm() -> Action {
        guard let deadline else {
            guard armed != nil else { return .none }
            armed = nil
            return .cancelTimer
        }
        if let armed, armed <= deadline { return .none }
        armed = deadline
        return .schedule(deadline)
    }
}
