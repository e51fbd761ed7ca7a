import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix
import NIOWebSocket
import Synchronization

/// Acknowledgements a connection waits for, by id.
final class AckTable: Sendable {
    enum Outcome: Sendable {
        /// The acknowledgement's arguments (`[...]`).
        case answered(String)
        case timedOut
        /// The connection left before the answer came.
        case abandoned
    }

    private let lastID = Atomic<Int>(0)
    private let waiting = Mutex<[Int: CheckedContinuation<Outcome, Never>]>([:])

    /// Sends a packet with a new id through `emit` and waits for its acknowledgement.
    func send(timeout: Duration, _ emit: @Sendable (_ id: Int) -> Void) async -> Outcome {
        let id = lastID.add(1, ordering: .relaxed).newValue
        let patience = Task {
            try? await Task.sleep(for: timeout)
            if !Task.isCancelled { self.resolve(id, .timedOut) }
        }
        defer { patience.cancel() }
        return await withCheckedContinuation { continuation in
            waiting.withLock { $0[id] = continuation }
            emit(id)
        }
    }

    func answer(_ id: Int, arguments: String) {
        resolve(id, .answered(arguments))
    }

    func abandonAll() {
        let all = waiting.withLock { waiting in
            defer { waiting = [:] }
            return waiting
        }
        for continuation in all.values { continuation.resume(returning: .abandoned) }
    }

    private func resolve(_ id: Int, _ outcome: Outcome) {
        waiting.withLock { $0.removeValue(forKey: id) }?.resume(returning: outcome)
    }
}

/// The soak's Socket.IO clients: a fixed number of slots, each holding one client at a time that
/// lives 10–60 s, then leaves one of three ways (tells the server, closes its connection, or
/// falls silent and lets the server find out by its heartbeat) and is replaced by a new one for
/// a random user.
final class SoakSockets: Sendable {
    enum Transport: String, Sendable {
        case webSocket = "websocket"
        case polling
    }

    /// A connected client the soak can send events through.
    struct Connected: Sendable {
        let transport: Transport
        let user: Int
        let acks: AckTable
        /// Sends a Socket.IO packet (without Engine.IO's `4`).
        let emit: @Sendable (String) -> Void
    }

    fileprivate enum Leaving: CaseIterable {
        case told, closed, silent
    }

    private let baseURL: String
    private let host: String
    private let port: Int
    private let http: HTTPClient
    private let users: SoakUsers
    private let stats: SoakStats
    private let lifetime: ClosedRange<Double>
    private let connected = Mutex<[Int: Connected]>([:])
    private let departures = Mutex(Departures())

    /// How the clients of a run left.
    struct Departures: Sendable, CustomStringConvertible {
        var connected = 0
        var told = 0
        var closed = 0
        var silent = 0
        /// Silent clients whose end was looked for before the run ended, and those the server
        /// had ended by then.
        var silentChecked = 0
        var silentEnded = 0
        var endedByServer = 0

        var description: String {
            "\(connected) clients connected; left as told \(told), by closing the connection \(closed), silently \(silent) (\(silentEnded) of the \(silentChecked) looked at in time ended by the server within \(Int(SoakSockets.silentAllowance.seconds)) s); ended by the server unasked \(endedByServer)"
        }
    }

    /// How the clients have left so far.
    var departed: Departures { departures.withLock { $0 } }

    init(
        baseURL: String, host: String, port: Int, http: HTTPClient, users: SoakUsers, stats: SoakStats,
        lifetime: ClosedRange<Double>
    ) {
        self.baseURL = baseURL
        self.host = host
        self.port = port
        self.http = http
        self.users = users
        self.stats = stats
        self.lifetime = lifetime
    }

    /// Clients connected now, by transport.
    var counts: (webSockets: Int, pollers: Int) {
        connected.withLock { clients in
            let webSockets = clients.values.count { $0.transport == .webSocket }
            return (webSockets, clients.count - webSockets)
        }
    }

    /// A connected client at random.
    func anyConnected() -> Connected? {
        connected.withLock { $0.values.randomElement() }
    }

    /// Keeps slot `slot` filled with clients of `transport` until `deadline`; the last one leaves
    /// as told then.
    func run(slot: Int, transport: Transport, until deadline: ContinuousClock.Instant) async {
        let clock = ContinuousClock()
        // Clients that fell silent are watched until the server drops them.
        await withDiscardingTaskGroup { watchers in
            while clock.now < deadline, !Task.isCancelled {
                let user = Int.random(in: 0..<users.count)
                let started = clock.now
                switch transport {
                case .webSocket:
                    await webSocketLife(
                        slot: slot, user: user, started: started, deadline: deadline, watchers: &watchers)
                case .polling:
                    await pollingLife(slot: slot, user: user, started: started, deadline: deadline, watchers: &watchers)
                }
            }
        }
    }

    // MARK: WebSocket

    private func webSocketLife(
        slot: Int, user: Int, started: ContinuousClock.Instant, deadline: ContinuousClock.Instant,
        watchers: inout DiscardingTaskGroup
    ) async {
        let clock = ContinuousClock()
        let acks = AckTable()
        let auth = "{\"token\":\"\(users.session(user).token)\"}"
        let client: SocketIOBenchClient
        do {
            client = try await SocketIOBenchClient.connect(
                host: host, port: port, group: MultiThreadedEventLoopGroup.singleton, attempts: 1
            ) { promise in
                SocketIOBenchClient(
                    connectPayload: auth, connected: promise,
                    onAck: { id, arguments in acks.answer(id, arguments: String(buffer: arguments)) })
            }
        } catch {
            stats.fail("connect", "websocket: \(error)")
            try? await Task.sleep(for: .seconds(1))
            return
        }
        stats.record(.connect, started.duration(to: clock.now))
        departures.withLock { $0.connected += 1 }
        guard let channel = client.channel else { return }
        let leaving = Atomic<Bool>(false)
        let endedUnasked = Atomic<Bool>(false)
        channel.closeFuture.whenComplete { _ in
            if !leaving.load(ordering: .relaxed) { endedUnasked.store(true, ordering: .relaxed) }
        }
        connected.withLock { $0[slot] = Connected(transport: .webSocket, user: user, acks: acks, emit: client.emit) }

        await live(until: min(clock.now + randomLifetime, deadline)) { endedUnasked.load(ordering: .relaxed) }
        leaving.store(true, ordering: .relaxed)
        connected.withLock { $0[slot] = nil }
        acks.abandonAll()
        if endedUnasked.load(ordering: .relaxed) {
            stats.fail("socket", "websocket closed by the server")
            departures.withLock { $0.endedByServer += 1 }
            return
        }
        let way = clock.now >= deadline ? .told : Leaving.allCases.randomElement()!
        departures.withLock { $0.count(way) }
        switch way {
        case .told:
            // DISCONNECT, then a close frame; the server closes the connection.
            client.emit("1")
            var reason = channel.allocator.buffer(capacity: 2)
            reason.write(webSocketErrorCode: .normalClosure)
            channel.writeAndFlush(
                WebSocketFrame(fin: true, opcode: .connectionClose, maskKey: .random(), data: reason), promise: nil)
            let patience = channel.eventLoop.scheduleTask(in: .seconds(2)) {
                self.stats.fail("socket", "websocket not closed by the server 2 s after a close frame")
                channel.close(promise: nil)
            }
            try? await channel.closeFuture.get()
            patience.cancel()
        case .closed:
            try? await channel.close()
        case .silent:
            client.fallSilent()
            watchers.addTask {
                let limit = clock.now + Self.silentAllowance
                while channel.isActive, clock.now < deadline, !Task.isCancelled {
                    if clock.now >= limit {
                        self.stats.fail(
                            "socket", "websocket: a silent client was still connected \(Self.silentAllowance) later")
                        self.departures.withLock { $0.silentChecked += 1 }
                        break
                    }
                    try? await Task.sleep(for: .seconds(1))
                }
                if !channel.isActive {
                    self.departures.withLock {
                        $0.silentChecked += 1
                        $0.silentEnded += 1
                    }
                }
                try? await channel.close()
            }
        }
    }

    // MARK: Long-polling

    private func pollingLife(
        slot: Int, user: Int, started: ContinuousClock.Instant, deadline: ContinuousClock.Instant,
        watchers: inout DiscardingTaskGroup
    ) async {
        let clock = ContinuousClock()
        let acks = AckTable()
        let end = Mutex<String?>(nil)
        let client: SocketIOPollingClient
        do {
            client = try await SocketIOPollingClient.connect(
                http: http, baseURL: baseURL, auth: "{\"token\":\"\(users.session(user).token)\"}",
                onAck: { id, arguments in acks.answer(id, arguments: String(arguments)) },
                onEnded: { reason in end.withLock { $0 = reason } }
            )
        } catch {
            stats.fail("connect", "polling: \(error)")
            try? await Task.sleep(for: .seconds(1))
            return
        }
        stats.record(.connect, started.duration(to: clock.now))
        departures.withLock { $0.connected += 1 }
        connected.withLock { $0[slot] = Connected(transport: .polling, user: user, acks: acks, emit: client.emit) }

        await live(until: min(clock.now + randomLifetime, deadline)) { end.withLock { $0 != nil } }
        connected.withLock { $0[slot] = nil }
        acks.abandonAll()
        if let reason = end.withLock({ $0 }) {
            stats.fail("socket", "polling: \(reason)")
            departures.withLock { $0.endedByServer += 1 }
            await client.drop()
            return
        }
        let way = clock.now >= deadline ? .told : Leaving.allCases.randomElement()!
        departures.withLock { $0.count(way) }
        switch way {
        case .told:
            if !(await client.disconnect()) {
                stats.fail("socket", "polling: the open poll was not answered 2 s after CLOSE")
            }
        case .closed:
            await client.drop()
        case .silent:
            // The poll open now is answered at the next ping, which goes unanswered: the server
            // should then forget the session.
            client.fallSilent()
            let fell = clock.now
            watchers.addTask {
                let check = fell + Self.silentAllowance
                if check < deadline {
                    try? await clock.sleep(until: check)
                }
                if check < deadline, !Task.isCancelled {
                    let forgotten = await client.isForgotten()
                    if !forgotten {
                        self.stats.fail(
                            "socket", "polling: a silent session was still open \(Self.silentAllowance) later")
                    }
                    self.departures.withLock {
                        $0.silentChecked += 1
                        if forgotten { $0.silentEnded += 1 }
                    }
                }
                await client.drop()
            }
        }
    }

    // MARK: Shared

    private var randomLifetime: Duration { .seconds(Double.random(in: lifetime)) }

    /// Waits until `end`, or until `ended` says the client is gone.
    private func live(until end: ContinuousClock.Instant, ended: () -> Bool) async {
        let clock = ContinuousClock()
        while clock.now < end, !ended(), !Task.isCancelled {
            try? await Task.sleep(for: min(.seconds(1), clock.now.duration(to: end)))
        }
    }

    /// How long the server may take to drop a client that fell silent: its ping interval and
    /// timeout (25 s and 20 s by default), and some.
    static let silentAllowance = Duration.seconds(60)
}

extension SoakSockets.Departures {
    fileprivate mutating func count(_ leaving: SoakSockets.Leaving) {
        switch leaving {
        case .told: told += 1
        case .closed: closed += 1
        case .silent: silent += 1
        }
    }
}

/// The users the traffic is spread over, each with its latest session.
final class SoakUsers: Sendable {
    private let sessions: Mutex<[ParleyClient.Session]>
    let emails: [String]

    init(emails: [String], sessions: [ParleyClient.Session]) {
        self.emails = emails
        self.sessions = Mutex(sessions)
    }

    var count: Int { emails.count }

    func session(_ index: Int) -> ParleyClient.Session {
        sessions.withLock { $0[index] }
    }

    /// After a login: the user's clients use the new session from now on.
    func replace(_ index: Int, with session: ParleyClient.Session) {
        sessions.withLock { $0[index] = session }
    }

    /// Another user than `index`, at random.
    func peer(of index: Int) -> Int {
        let other = Int.random(in: 0..<(count - 1))
        return other >= index ? other + 1 : other
    }
}
