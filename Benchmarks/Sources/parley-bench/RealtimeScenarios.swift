import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Sign-up and WebSocket connection of the users a realtime scenario needs.
struct RealtimeParticipants {
    struct Pair: Sendable {
        let sender: ParleyClient.Session
        let receiver: ParleyClient.Session
        let socket: SocketIOBenchClient
    }

    let pairs: [Pair]

    /// `count` sender/receiver pairs; each receiver listens on `receiveURL` and reports every
    /// `new-message` text to `onMessage`.
    static func make(
        count: Int,
        client: ParleyClient,
        receiveHost: String,
        receivePort: Int,
        onMessage: @escaping @Sendable (ByteBuffer) -> Void
    ) async throws -> RealtimeParticipants {
        let run = UUID().uuidString.prefix(8)
        var pairs: [Pair] = []
        for index in 0..<count {
            let sender = try await client.signUp(email: "s\(index)-\(run)@bench.example", password: "secret1")
            let receiver = try await client.signUp(email: "r\(index)-\(run)@bench.example", password: "secret1")
            let socket = try await SocketIOBenchClient.connect(
                host: receiveHost,
                port: receivePort,
                group: MultiThreadedEventLoopGroup.singleton
            ) { promise in
                SocketIOBenchClient(
                    connectPayload: "{\"token\":\"\(receiver.token)\"}",
                    connected: promise,
                    onEvent: { text in
                        if text.readableBytesView.starts(with: newMessagePrefix) { onMessage(text) }
                    }
                )
            }
            pairs.append(Pair(sender: sender, receiver: receiver, socket: socket))
        }
        return RealtimeParticipants(pairs: pairs)
    }
}

private let newMessagePrefix = Array("2[\"new-message\"".utf8)

/// The sequence number a scenario put in a message's text (`"#<n>#"`), read from the event.
func sequenceNumber(in event: ByteBuffer) -> Int? {
    let bytes = Array(event.readableBytesView)
    guard let start = bytes.firstIndex(of: UInt8(ascii: "#")) else { return nil }
    var value = 0
    var index = start + 1
    var sawDigit = false
    while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
        value = value * 10 + Int(bytes[index] - UInt8(ascii: "0"))
        index += 1
        sawDigit = true
    }
    return sawDigit && index < bytes.count && bytes[index] == UInt8(ascii: "#") ? value : nil
}

final class DeliveryLog: Sendable {
    let sentAt = Mutex<[Int: ContinuousClock.Instant]>([:])
    let latencies = Mutex(LatencyRecorder())
    let delivered = Atomic<Int>(0)
    let failures = Atomic<Int>(0)

    func received(_ event: ByteBuffer, at now: ContinuousClock.Instant) {
        guard let sequence = sequenceNumber(in: event),
            let sent = sentAt.withLock({ $0.removeValue(forKey: sequence) })
        else { return }
        latencies.withLock { $0.record(sent.duration(to: now)) }
        delivered.add(1, ordering: .relaxed)
    }
}

/// REST send to the receiver's `new-message`, at a fixed rate.
struct RealtimeLatency: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "realtime-latency",
        abstract: "End-to-end latency: POST /api/message to the receiver's new-message, at a fixed rate."
    )

    @Option(help: "Instance the messages are sent to.") var sendURL = "http://127.0.0.1:5001"
    @Option(help: "Instance the receivers listen on (another one measures cross-instance delivery).")
    var receiveURL = "http://127.0.0.1:5001"
    @Option var rate = 500
    @Option var duration = 20
    @Option(help: "Conversations the messages are spread over.") var pairs = 20
    @Option(help: "A server's process id, for its CPU per message (repeat for several).") var serverPid: [Int32] = []
    @Option(help: "PostgreSQL's postmaster process id, for the database's CPU per message.") var postgresPid: Int32?

    func run() async throws {
        try await withBenchmarkClient(connections: 128) { http in
            try await measure(http: http)
        }
    }

    private func measure(http: HTTPClient) async throws {
        let client = ParleyClient(http: http, baseURL: sendURL)
        let receiver = URLComponents(string: receiveURL)!
        let log = DeliveryLog()
        let clock = ContinuousClock()
        let participants = try await RealtimeParticipants.make(
            count: pairs,
            client: client,
            receiveHost: receiver.host ?? "127.0.0.1",
            receivePort: receiver.port ?? 80,
            onMessage: { log.received($0, at: clock.now) }
        )
        let start = clock.now + .milliseconds(200)
        let interval = Duration.seconds(1) / rate
        let total = rate * duration
        let meter = CPUMeter(servers: serverPid, postmaster: postgresPid)
        try await clock.sleep(until: start)
        let before = meter.read()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for sequence in 0..<total {
                let scheduled = start + interval * sequence
                try await clock.sleep(until: scheduled)
                let pair = participants.pairs[sequence % participants.pairs.count]
                group.addTask {
                    log.sentAt.withLock { $0[sequence] = scheduled }
                    do {
                        try await client.send(as: pair.sender, to: pair.receiver.id, text: "#\(sequence)#")
                    } catch {
                        log.failures.add(1, ordering: .relaxed)
                    }
                }
            }
            try await group.waitForAll()
        }
        // Let the last events arrive.
        let deadline = clock.now + .seconds(5)
        while log.delivered.load(ordering: .relaxed) + log.failures.load(ordering: .relaxed) < total,
            clock.now < deadline
        {
            try await Task.sleep(for: .milliseconds(10))
        }
        let delivered = log.delivered.load(ordering: .relaxed)
        let elapsed = start.duration(to: clock.now)
        print(
            "REST send (\(sendURL)) -> new-message (\(receiveURL)) at \(rate)/s for \(duration) s over \(pairs) conversations"
        )
        print("  delivered \(delivered)/\(total), failed sends \(log.failures.load(ordering: .relaxed))")
        print("  latency from scheduled send: \(log.latencies.withLock { $0.summary })")
        meter.report(since: before, messages: delivered, seconds: elapsed.seconds)
        for pair in participants.pairs { try? await pair.socket.channel?.close() }
    }
}

/// Closed-loop REST senders as fast as the server takes them, counting deliveries.
///
/// Senders and receivers are plain sockets (``RawHTTPSenders``, ``RawSocketIOReceivers``): the
/// machine's two cores are shared with the server and PostgreSQL, and what the load generator
/// spends is not available to them, as it would be with clients on other machines.
struct RealtimeThroughput: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "realtime-throughput",
        abstract: "Maximum sustained send rate (REST or send-message) with every message delivered over Socket.IO."
    )

    /// How the senders send.
    enum Via: String, ExpressibleByArgument, CaseIterable {
        /// `POST /api/message`, one request in flight per keep-alive connection.
        case rest
        /// `send-message` with an acknowledgement, one in flight per Socket.IO client.
        case socketio
    }

    @Option var url = "http://127.0.0.1:5001"
    @Option(help: "rest (POST /api/message) or socketio (send-message with an acknowledgement).") var via = Via.rest
    @Option(help: "Connections sending, each with one request in flight.") var concurrency = 32
    @Option var duration = 20
    @Option(help: "Conversations (sender/receiver pairs) the messages are spread over.") var pairs = 32
    @Option(help: "The server's process id, for its CPU per message.") var serverPid: [Int32] = []
    @Option(help: "PostgreSQL's postmaster process id, for the database's CPU per message.") var postgresPid: Int32?

    func validate() throws {
        guard concurrency > 0, duration > 0, pairs > 0 else {
            throw ValidationError("--concurrency, --duration and --pairs must be positive")
        }
    }

    func run() async throws {
        guard let components = URLComponents(string: url), let host = components.host, let port = components.port
        else { throw ValidationError("--url must look like http://127.0.0.1:5001") }
        let accounts = try await withBenchmarkClient(connections: 4) { http in
            let client = ParleyClient(http: http, baseURL: url)
            let run = UUID().uuidString.prefix(8)
            var accounts: [(sender: ParleyClient.Session, receiver: ParleyClient.Session)] = []
            for index in 0..<pairs {
                accounts.append(
                    (
                        try await client.signUp(email: "s\(index)-\(run)@bench.example", password: "secret1"),
                        try await client.signUp(email: "r\(index)-\(run)@bench.example", password: "secret1")
                    ))
            }
            return accounts
        }
        let receivers = try RawSocketIOReceivers(
            host: host, port: port, count: pairs, threads: 1, coalescing: .zero,
            auth: { "{\"token\":\"\(accounts[$0].receiver.token)\"}" }
        )
        defer { receivers.close() }
        receivers.expect(Int.max, eventsStartingWith: "42[\"new-message\"")
        // Each connection's request head up to its body, made once; the body varies.
        let heads = (0..<concurrency).map { connection in
            let pair = accounts[connection % accounts.count]
            return (
                head: Array(
                    ("POST /api/message HTTP/1.1\r\nHost: \(host):\(port)\r\n"
                        + "Authorization: Bearer \(pair.sender.token)\r\nContent-Type: application/json\r\n").utf8),
                to: pair.receiver.id
            )
        }
        let clock = ContinuousClock()
        let meter = CPUMeter(servers: serverPid, postmaster: postgresPid)
        let before: CPUMeter.Reading
        let start: ContinuousClock.Instant
        let completed: Int
        let failed: (count: Int, first: String?)
        switch via {
        case .rest:
            let senders = try RawHTTPSenders(host: host, port: port, count: concurrency, expectedStatus: 201) {
                connection, sequence in
                let body = Array(
                    "{\"to\":\"\(heads[connection].to)\",\"text\":\"#\(sequence)# from sender \(connection)\"}".utf8)
                return heads[connection].head + Array("Content-Length: \(body.count)\r\n\r\n".utf8) + body
            }
            (start, before) = (clock.now, meter.read())
            let outcome = try senders.run(for: .seconds(duration))
            (completed, failed) = (outcome.completed, (outcome.failed, outcome.firstFailure))
        case .socketio:
            let senders = try RawSocketIOSenders(
                host: host, port: port, count: concurrency,
                auth: { "{\"token\":\"\(accounts[$0 % accounts.count].sender.token)\"}" }
            ) { connection, sequence in
                "[\"send-message\",{\"to\":\"\(heads[connection].to)\",\"text\":\"#\(sequence)# from sender \(connection)\"}]"
            }
            (start, before) = (clock.now, meter.read())
            let outcome = try senders.run(for: .seconds(duration))
            (completed, failed) = (outcome.completed, (outcome.failed, outcome.firstFailure))
        }
        let outcome = (completed: completed, failed: failed.count, firstFailure: failed.first)
        let elapsed = start.duration(to: clock.now).seconds
        let settle = clock.now + .seconds(5)
        while receivers.receivedCount < outcome.completed, clock.now < settle {
            try await Task.sleep(for: .milliseconds(10))
        }
        defer {
            meter.report(
                since: before, messages: receivers.receivedCount, seconds: start.duration(to: clock.now).seconds)
        }
        print(
            "sustained send with delivery: \(outcome.completed) messages in \(String(format2: elapsed)) s = \(String(format2: Double(outcome.completed) / elapsed)) messages/s (\(concurrency) senders, \(via == .rest ? "POST /api/message" : "send-message")); delivered \(receivers.receivedCount)"
        )
        if outcome.failed > 0 {
            print("  failed sends: \(outcome.failed) (first: \(outcome.firstFailure ?? "?"))")
        }
        guard receivers.closedCount == 0 else {
            throw BenchError("\(receivers.closedCount) receivers were disconnected")
        }
    }
}
