import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// Every client loses its connection at once, messages keep being sent among them, and they all
/// come back at once with connection-state recovery: how long until each has recovered and holds
/// every message it missed, what that costs the server and PostgreSQL, and the server's memory.
struct RecoveryAfterBlip: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recovery",
        abstract: "Clients cut off for a blip while messages are sent to them, then all recovering at once."
    )

    @Option var url = "http://127.0.0.1:5001"
    @Option var clients = 10_000
    @Option(help: "Messages sent among the clients (REST) while they are away.") var messages = 20_000
    @Option(help: "Seconds between the cut and the reconnection.") var blip = 10
    @Option(help: "The server's process id (memory and CPU).") var serverPid: Int32
    @Option(help: "PostgreSQL's postmaster process id (its CPU).") var postgresPid: Int32?

    func validate() throws {
        guard clients > 1, messages > 0, blip > 0 else {
            throw ValidationError("--clients > 1, --messages, --blip > 0")
        }
    }

    /// What one client has seen: its session, its last offset and the messages it holds.
    final class Client: Sendable {
        struct State {
            var sid = ""
            var pid = ""
            var offset: String?
            var received = 0
            var recovered = false
        }
        let state = Mutex(State())
        let token: String
        let id: String
        init(token: String, id: String) {
            self.token = token
            self.id = id
        }
    }

    func run() async throws {
        guard let components = URLComponents(string: url), let host = components.host, let port = components.port
        else { throw ValidationError("--url must look like http://127.0.0.1:5001") }
        let server = ProcessStats(pid: serverPid)
        let meter = CPUMeter(servers: [serverPid], postmaster: postgresPid)
        let group = MultiThreadedEventLoopGroup.singleton
        let run = UUID().uuidString.prefix(8)

        print("signing up \(clients) users")
        let people: [Client] = try await withBenchmarkClient(connections: 16) { http in
            let client = ParleyClient(http: http, baseURL: url)
            return try await withThrowingTaskGroup(of: (Int, Client).self) { tasks in
                var made = [Client?](repeating: nil, count: clients)
                var next = 0
                func add() {
                    let index = next
                    next += 1
                    tasks.addTask {
                        let session = try await client.signUp(
                            email: "r\(index)-\(run)@bench.example", password: "secret1")
                        return (index, Client(token: session.token, id: session.id))
                    }
                }
                for _ in 0..<min(16, clients) { add() }
                while let (index, made1) = try await tasks.next() {
                    made[index] = made1
                    if next < clients { add() }
                }
                return made.map { $0! }
            }
        }

        print("connecting \(clients) WebSocket clients")
        var channels = try await connectAll(people, host: host, port: port, group: group, recovering: false)
        let connectedRSS = server.residentBytes
        print(String(format: "connected: server RSS %.1f MiB", Double(connectedRSS) / 1_048_576))

        // Every client has an offset (its `online-users` carries one) before the blip; one cut
        // before anything reached it has nothing to recover from.
        let clock = ContinuousClock()
        let settle = clock.now + .seconds(30)
        while people.contains(where: { $0.state.withLock { $0.offset == nil } }), clock.now < settle {
            try await Task.sleep(for: .milliseconds(20))
        }
        // The blip: every connection drops.
        let cut = clock.now
        for channel in channels { channel.close(promise: nil) }
        channels = []

        // Messages among them while they are away, each to a client at random.
        var expected = [Int](repeating: 0, count: clients)
        var plan: [(from: Int, to: Int)] = []
        plan.reserveCapacity(messages)
        for _ in 0..<messages {
            let from = Int.random(in: 0..<clients)
            var to = Int.random(in: 0..<(clients - 1))
            if to >= from { to += 1 }
            plan.append((from, to))
            // A REST send reaches the receiver's devices and every device of the sender.
            expected[to] += 1
            expected[from] += 1
        }
        for person in people { person.state.withLock { $0.received = 0 } }
        let sendStart = clock.now
        try await withBenchmarkClient(connections: 64) { http in
            let client = ParleyClient(http: http, baseURL: url)
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                var next = 0
                func add() {
                    let (from, to) = plan[next]
                    next += 1
                    tasks.addTask {
                        try await client.send(
                            as: .init(id: people[from].id, token: people[from].token), to: people[to].id, text: "missed"
                        )
                    }
                }
                for _ in 0..<min(64, messages) { add() }
                while try await tasks.next() != nil {
                    if next < messages { add() }
                }
            }
        }
        let sent = clock.now
        print(
            String(
                format: "sent %d messages while away in %.1f s; reconnecting %.1f s after the cut",
                messages, sendStart.duration(to: sent).seconds, Double(blip)))
        try await clock.sleep(until: cut + .seconds(blip))

        let before = meter.read()
        let start = clock.now
        channels = try await connectAll(people, host: host, port: port, group: group, recovering: true)
        let connected = clock.now
        // Until every client holds what it missed (or 60 s).
        let deadline = clock.now + .seconds(60)
        func complete() -> Int {
            var count = 0
            for (index, person) in people.enumerated() where person.state.withLock({ $0.received }) >= expected[index] {
                count += 1
            }
            return count
        }
        while complete() < clients, clock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let done = clock.now
        let recovered = people.count { $0.state.withLock { $0.recovered } }
        let received = people.reduce(0) { $0 + $1.state.withLock { $0.received } }
        let surplus = zip(people, expected).reduce(0) { $0 + max(0, $1.0.state.withLock { $0.received } - $1.1) }
        print(
            String(
                format: "all reconnected in %.2f s; every client recovered and holding every message after %.2f s",
                start.duration(to: connected).seconds, start.duration(to: done).seconds))
        print(
            "  recovered \(recovered)/\(clients); new-message events received \(received) of \(expected.reduce(0, +)) (the receivers' and the senders'), beyond the expected \(surplus)"
        )
        meter.report(since: before, messages: messages, seconds: start.duration(to: done).seconds)
        print(
            String(
                format: "  server RSS: %.1f MiB connected before the blip, %.1f MiB after the recovery",
                Double(connectedRSS) / 1_048_576, Double(server.residentBytes) / 1_048_576))
        for channel in channels { channel.close(promise: nil) }
        guard complete() == clients else { throw BenchError("\(clients - complete()) clients did not get everything") }
    }

    /// Connects every client (64 at a time), fresh or recovering with its pid and last offset.
    private func connectAll(
        _ people: [Client], host: String, port: Int, group: any EventLoopGroup, recovering: Bool
    ) async throws -> [any Channel] {
        try await withThrowingTaskGroup(of: (any Channel)?.self) { tasks in
            var channels: [any Channel] = []
            var next = 0
            func add() {
                let person = people[next]
                next += 1
                tasks.addTask {
                    let (pid, offset) = person.state.withLock { ($0.pid, $0.offset) }
                    var payload = "{\"token\":\"\(person.token)\""
                    if recovering, let offset { payload += ",\"pid\":\"\(pid)\",\"offset\":\"\(offset)\"" }
                    payload += "}"
                    let connectPayload = payload
                    let client = try await SocketIOBenchClient.connect(host: host, port: port, group: group) {
                        promise in
                        SocketIOBenchClient(
                            connectPayload: connectPayload, connected: promise,
                            onEvent: { text in Self.record(text, for: person) },
                            onConnect: { answer in Self.connected(answer, person: person, recovering: recovering) })
                    }
                    return client.channel
                }
            }
            for _ in 0..<min(64, people.count) { add() }
            while let channel = try await tasks.next() {
                if let channel { channels.append(channel) }
                if next < people.count { add() }
            }
            return channels
        }
    }

    private static func connected(_ answer: ByteBuffer, person: Client, recovering: Bool) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(answer.readableBytesView)) as? [String: String]
        else { return }
        person.state.withLock { state in
            if recovering { state.recovered = object["pid"] == state.pid && object["sid"] == state.sid }
            state.sid = object["sid"] ?? ""
            state.pid = object["pid"] ?? ""
        }
    }

    /// Keeps an event's offset (its last argument, a string) and counts `new-message`s.
    private static func record(_ text: ByteBuffer, for person: Client) {
        let bytes = Array(text.readableBytesView)
        let isMessage = bytes.starts(with: Array("2[\"new-message\"".utf8))
        var offset: String?
        if bytes.count > 3, bytes[bytes.count - 1] == UInt8(ascii: "]"), bytes[bytes.count - 2] == UInt8(ascii: "\"") {
            let end = bytes.count - 2
            if let open = bytes[..<end].lastIndex(of: UInt8(ascii: "\"")), open > 0,
                bytes[open - 1] == UInt8(ascii: ",")
            {
                offset = String(decoding: bytes[(open + 1)..<end], as: UTF8.self)
            }
        }
        person.state.withLock { state in
            if let offset { state.offset = offset }
            if isMessage { state.received += 1 }
        }
    }
}
