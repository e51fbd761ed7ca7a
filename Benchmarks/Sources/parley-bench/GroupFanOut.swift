import ArgumentParser
import Foundation

/// A group of `members` users, each with one WebSocket (on one instance, or split over two),
/// receiving the group's messages: how long until the last member's socket has a message, and
/// the sustained rate of group messages with every delivery made.
///
/// Messages are sent over REST by the group's owner (every member's socket hears them, the
/// owner's too). Receiving is ``RawSocketIOReceivers``: an arrival costs the load generator a
/// `read(2)`, so the figures are mostly the server's.
struct GroupFanOut: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delivery of group messages to every member's socket (one or two instances)."
    )

    @Option(help: "Server base URL (the REST sends go here, and the first half of the sockets).")
    var url = "http://127.0.0.1:5001"
    @Option(help: "A second instance on the same database: the second half of the sockets connect here.")
    var secondURL: String?
    @Option(help: "Members of the group, each with one socket.") var members = 1000
    @Option(help: "Messages sent one at a time for the latency figures.") var messages = 100
    @Option(help: "Seconds of sustained sending.") var duration = 20
    @Option(help: "Connections sending in the sustained phase, each with one request in flight.") var senders = 4
    @Option(help: "The servers' process ids, for CPU per message.") var serverPid: [Int32] = []
    @Option(help: "PostgreSQL's postmaster process id.") var postgresPid: Int32?

    func validate() throws {
        guard members > 1, messages > 0, duration > 0, senders > 0 else {
            throw ValidationError("--members must be at least 2; --messages, --duration, --senders positive")
        }
    }

    func run() async throws {
        guard let first = Endpoint(url) else { throw ValidationError("--url must look like http://127.0.0.1:5001") }
        let second = try secondURL.map { text in
            guard let endpoint = Endpoint(text) else { throw ValidationError("--second-url must look like --url") }
            return endpoint
        }
        let clock = ContinuousClock()
        let setup = clock.now
        let (sessions, group) = try await withBenchmarkClient(connections: 16) { http in
            let client = ParleyClient(http: http, baseURL: url)
            let run = UUID().uuidString.prefix(8)
            var sessions: [ParleyClient.Session] = []
            for start in stride(from: 0, to: members, by: 16) {
                sessions += try await withThrowingTaskGroup(of: (Int, ParleyClient.Session).self) { tasks in
                    for index in start..<min(start + 16, members) {
                        tasks.addTask {
                            (index, try await client.signUp(email: "g\(index)-\(run)@bench.example", password: "secret1"))
                        }
                    }
                    var batch: [(Int, ParleyClient.Session)] = []
                    for try await signed in tasks { batch.append(signed) }
                    return batch.sorted { $0.0 < $1.0 }.map(\.1)
                }
            }
            let group = try await client.createGroup(
                as: sessions[0], name: "Bench \(run)", members: sessions.dropFirst().map(\.id))
            return (sessions, group)
        }
        print("signed up \(members) users and made a group of them in \(String(format2: setup.duration(to: clock.now).seconds)) s")

        let split = second == nil ? members : members / 2
        let receivers = try [
            RawSocketIOReceivers(
                host: first.host, port: first.port, count: split, threads: 1, coalescing: .zero,
                auth: { "{\"token\":\"\(sessions[$0].token)\"}" })
        ]
            + (second.map { endpoint in
                [
                    try RawSocketIOReceivers(
                        host: endpoint.host, port: endpoint.port, count: members - split, threads: 1, coalescing: .zero,
                        auth: { "{\"token\":\"\(sessions[split + $0].token)\"}" })
                ]
            } ?? [])
        defer { for receiver in receivers { receiver.close() } }
        // Every connection told every socket that its user came online: let that settle.
        try await Task.sleep(for: .seconds(5))
        let where_ = second == nil ? "one instance" : "two instances (\(split) + \(members - split) sockets)"
        print("\(members) sockets connected, on \(where_)")

        let prefix = "42[\"new-group-message\""
        var lasts = LatencyRecorder()
        var firsts = LatencyRecorder()
        try await withBenchmarkClient(connections: 2) { http in
            let client = ParleyClient(http: http, baseURL: url)
            for round in 0..<(messages + 10) {
                for receiver in receivers { receiver.expect(receiver.count, eventsStartingWith: prefix) }
                let start = clock.now
                try await client.sendToGroup(as: sessions[0], group: group, text: "latency probe \(round)")
                var last = start
                var earliest: ContinuousClock.Instant?
                for receiver in receivers {
                    guard let arrivals = await receiver.waitForArrivals(timeout: .seconds(30)) else {
                        throw BenchError("round \(round): only \(receiver.receivedCount) of \(receiver.count) sockets heard it")
                    }
                    last = max(last, arrivals.last)
                    earliest = min(earliest ?? arrivals.first, arrivals.first)
                }
                // The first ten warm up.
                if round >= 10 {
                    lasts.record(start.duration(to: last))
                    firsts.record(start.duration(to: earliest ?? last))
                }
            }
        }
        print("one message at a time, sent over REST until the last of \(members) sockets has it:")
        print("  last socket: \(lasts.summary)")
        print("  first socket: \(firsts.summary)")

        // Sustained: closed-loop senders; the rate counts messages whose every delivery was made.
        let meter = CPUMeter(servers: serverPid, postmaster: postgresPid)
        for receiver in receivers { receiver.expect(Int.max, eventsStartingWith: prefix) }
        let head = Array(
            ("POST /api/groups/\(group)/messages HTTP/1.1\r\nHost: \(first.host):\(first.port)\r\n"
                + "Authorization: Bearer \(sessions[0].token)\r\nContent-Type: application/json\r\n").utf8)
        let sending = try RawHTTPSenders(host: first.host, port: first.port, count: senders, expectedStatus: 201) {
            connection, sequence in
            let body = Array("{\"text\":\"#\(sequence)# from sender \(connection)\"}".utf8)
            return head + Array("Content-Length: \(body.count)\r\n\r\n".utf8) + body
        }
        let (start, before) = (clock.now, meter.read())
        let outcome = try sending.run(for: .seconds(duration))
        let expected = outcome.completed * members
        let settle = clock.now + .seconds(60)
        func delivered() -> Int { receivers.reduce(0) { $0 + $1.receivedCount } }
        while delivered() < expected, clock.now < settle {
            try await Task.sleep(for: .milliseconds(10))
        }
        let elapsed = start.duration(to: clock.now).seconds
        print(
            "sustained: \(outcome.completed) group messages (\(senders) senders) delivered \(delivered()) times of \(expected) in \(String(format2: elapsed)) s = \(String(format2: Double(outcome.completed) / elapsed)) group messages/s = \(String(format2: Double(delivered()) / elapsed)) deliveries/s"
        )
        if outcome.failed > 0 { print("  failed sends: \(outcome.failed) (first: \(outcome.firstFailure ?? "?"))") }
        meter.report(since: before, messages: outcome.completed, seconds: elapsed, unit: "group message")
        let closed = receivers.reduce(0) { $0 + $1.closedCount }
        guard closed == 0 else { throw BenchError("\(closed) sockets were disconnected") }
        guard delivered() >= expected else { throw BenchError("only \(delivered()) of \(expected) deliveries were made") }
    }
}

/// Host and port of a base URL.
struct Endpoint {
    let host: String
    let port: Int

    init?(_ url: String) {
        guard let components = URLComponents(string: url), let host = components.host, let port = components.port
        else { return nil }
        self.host = host
        self.port = port
    }
}
