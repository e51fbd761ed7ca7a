import ArgumentParser
import AsyncHTTPClient
import Foundation

/// Everyday mixed traffic for a long time against one server, sampling its memory, file
/// descriptors and latencies, to show that none of them grows.
///
/// Logins, REST sends and reads run open-loop at fixed rates (latency from the scheduled start,
/// so a stall cannot hide by slowing the load down); Socket.IO clients over WebSocket and over
/// long-polling come and go all along, and connected ones send `send-message` with an
/// acknowledgement. Failures are counted and printed, never fatal: a soak is for seeing them.
struct Soak: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Mixed everyday traffic for a long time: server RSS, fds and latencies over time, and whether they stay flat."
    )

    @Option(help: "Server base URL.") var url = "http://127.0.0.1:5001"
    @Option(help: "The server's process id (RSS from /proc/<pid>/status, descriptors from /proc/<pid>/fd).")
    var pid: Int32
    @Option(help: "Seconds of traffic.") var duration = 1200
    @Option(help: "Seconds between samples (a line each).") var sampleInterval = 30
    @Option(
        help:
            "Users the traffic is spread over (signed up first). Few enough that conversations reach a full page and sidebars all their entries early, so that what reads return stops growing."
    )
    var users = 25
    @Option(help: "Logins per minute.") var loginsPerMinute = 20
    @Option(help: "POST /api/message per second.") var sendRate = 40
    @Option(help: "Reads per second: GET /api/message/:userId, every fourth one GET /api/message/users.")
    var readRate = 40
    @Option(help: "Socket.IO clients over WebSocket.") var webSockets = 60
    @Option(help: "Socket.IO clients over HTTP long-polling.") var pollers = 20
    @Option(help: "Shortest life of a Socket.IO client before it leaves and another comes, in seconds.")
    var minLifetime = 10
    @Option(help: "Longest life of a Socket.IO client, in seconds.") var maxLifetime = 60
    @Option(help: "send-message events per second (with an acknowledgement), from connected clients.")
    var socketSendRate = 10

    func validate() throws {
        guard duration > 0, sampleInterval > 0, sampleInterval <= duration else {
            throw ValidationError("--duration and --sample-interval must be positive, the interval no longer")
        }
        guard users >= 2 else { throw ValidationError("--users must be at least 2") }
        guard minLifetime > 0, maxLifetime >= minLifetime else {
            throw ValidationError("--min-lifetime must be positive and at most --max-lifetime")
        }
        guard [loginsPerMinute, sendRate, readRate, webSockets, pollers, socketSendRate].allSatisfy({ $0 >= 0 })
        else { throw ValidationError("rates and client counts cannot be negative") }
    }

    func run() async throws {
        guard let components = URLComponents(string: url), let host = components.host, let port = components.port
        else { throw ValidationError("--url must look like http://127.0.0.1:5001") }
        let server = ProcessStats(pid: pid)
        guard server.isRunning, server.openDescriptors >= 0 else {
            throw ValidationError("no process \(pid) whose /proc/\(pid)/fd can be read")
        }
        let stats = SoakStats()
        let ownCPU = ProcessStats(pid: getpid()).cpuSeconds
        // Polls hold a connection each for up to 25 s, and the server closes polling connections
        // after each answer; REST requests reuse theirs.
        let (rows, before, departed) = try await withBenchmarkClient(connections: 256) { http in
            let soakUsers = try await signUp(ParleyClient(http: http, baseURL: url))
            let before = server.sample()
            print(
                "soak: \(duration) s against \(url) (pid \(pid)), \(users) users; \(loginsPerMinute) logins/min, \(sendRate) sends/s, \(readRate) reads/s, \(webSockets) WebSocket + \(pollers) polling clients living \(minLifetime)-\(maxLifetime) s, \(socketSendRate) send-message/s"
            )
            print(
                "before the traffic: RSS \(String(format2: before.residentMiB)) MiB, \(before.descriptors) fds, \(before.threads) threads"
            )
            let sockets = SoakSockets(
                baseURL: url, host: host, port: port, http: http, users: soakUsers, stats: stats,
                lifetime: Double(minLifetime)...Double(maxLifetime))
            let rows = await traffic(
                client: ParleyClient(http: http, baseURL: url), users: soakUsers, sockets: sockets, stats: stats,
                server: server)
            return (rows, before, sockets.departed)
        }
        print("\(departed)")
        print(
            "load generator CPU over the run: \(String(format2: (ProcessStats(pid: getpid()).cpuSeconds - ownCPU) / Double(duration) * 100)) % of one core"
        )
        // Every client has left and the HTTP client's connections are closed: the server's
        // descriptors should come back to where they were once it has noticed, and once the
        // database pool has closed the connections the traffic opened (after 60 s idle).
        let clock = ContinuousClock()
        let stopped = clock.now
        var after = server.openDescriptors
        while after > before.descriptors, stopped.duration(to: clock.now) < Self.settling, server.isRunning {
            try await Task.sleep(for: .seconds(1))
            after = server.openDescriptors
        }
        print("fds \(stopped.duration(to: clock.now).clock) after the traffic: \(after)")
        let summary = SoakSummary(
            rows: rows, duration: .seconds(duration), descriptorsBefore: before.descriptors, descriptorsAfter: after,
            errors: stats.allErrors)
        for line in summary.lines { print(line) }
        guard server.isRunning else { throw BenchError("the server (pid \(pid)) exited during the soak") }
    }

    /// How long the server's descriptors are given to come back after the traffic.
    static let settling = Duration.seconds(90)

    /// Signs up the users, a few at a time (each is a bcrypt hash on the server).
    private func signUp(_ client: ParleyClient) async throws -> SoakUsers {
        let run = UUID().uuidString.prefix(8)
        let emails = (0..<users).map { "soak\($0)-\(run)@bench.example" }
        let sessions = try await withThrowingTaskGroup(of: (Int, ParleyClient.Session).self) { group in
            var sessions = [ParleyClient.Session?](repeating: nil, count: users)
            for (index, email) in emails.enumerated() {
                if index >= 4, let (done, session) = try await group.next() { sessions[done] = session }
                group.addTask { (index, try await client.signUp(email: email, password: Self.password)) }
            }
            for try await (done, session) in group { sessions[done] = session }
            return sessions.map { $0! }
        }
        return SoakUsers(emails: emails, sessions: sessions)
    }

    private static let password = "soak-secret-1"

    /// Runs every stream until the end (or until the server is gone) and prints a line per
    /// sample; returns the lines' figures.
    private func traffic(
        client: ParleyClient, users: SoakUsers, sockets: SoakSockets, stats: SoakStats, server: ProcessStats
    ) async -> [SoakRow] {
        let clock = ContinuousClock()
        let start = clock.now + .milliseconds(100)
        let deadline = start + .seconds(duration)
        return await withDiscardingTaskGroup(returning: [SoakRow].self) { group in
            group.addTask {
                await Self.openLoop(loginsPerMinute, per: .seconds(60), from: start, until: deadline) { _, scheduled in
                    let user = Int.random(in: 0..<users.count)
                    do {
                        let session = try await client.logIn(email: users.emails[user], password: Self.password)
                        stats.record(.login, scheduled.duration(to: clock.now))
                        users.replace(user, with: session)
                    } catch {
                        stats.fail("login", "\(error)")
                    }
                }
            }
            group.addTask {
                await Self.openLoop(sendRate, per: .seconds(1), from: start, until: deadline) { sequence, scheduled in
                    let sender = Int.random(in: 0..<users.count)
                    let peer = users.peer(of: sender)
                    do {
                        try await client.send(
                            as: users.session(sender), to: users.session(peer).id, text: Self.text(sequence))
                        stats.record(.send, scheduled.duration(to: clock.now))
                    } catch {
                        stats.fail("send", "\(error)")
                    }
                }
            }
            group.addTask {
                await Self.openLoop(readRate, per: .seconds(1), from: start, until: deadline) { sequence, scheduled in
                    let reader = Int.random(in: 0..<users.count)
                    do {
                        if sequence % 4 == 3 {
                            _ = try await client.contacts(as: users.session(reader))
                        } else {
                            try await client.conversation(
                                as: users.session(reader), with: users.session(users.peer(of: reader)).id)
                        }
                        stats.record(.read, scheduled.duration(to: clock.now))
                    } catch {
                        stats.fail("read", "\(error)")
                    }
                }
            }
            group.addTask {
                await Self.openLoop(socketSendRate, per: .seconds(1), from: start, until: deadline) {
                    sequence, scheduled in
                    // Nobody connected at this moment (at the start): nothing to time.
                    guard let socket = sockets.anyConnected() else { return }
                    let to = users.session(users.peer(of: socket.user)).id
                    let event = "[\"send-message\",{\"to\":\"\(to)\",\"text\":\"\(Self.text(sequence))\"}]"
                    switch await socket.acks.send(timeout: .seconds(10), { id in socket.emit("2\(id)" + event) }) {
                    case .answered(let arguments) where arguments.contains("\"ok\":true"):
                        stats.record(.ack, scheduled.duration(to: clock.now))
                    case .answered(let arguments):
                        stats.fail("ack", "\(socket.transport.rawValue): \(arguments)")
                    case .timedOut:
                        stats.fail("ack", "\(socket.transport.rawValue): no acknowledgement in 10 s")
                    case .abandoned:
                        break
                    }
                }
            }
            // Clients connect spread over the first seconds, not all at once.
            let slots =
                [SoakSockets.Transport](repeating: .webSocket, count: webSockets)
                + [SoakSockets.Transport](repeating: .polling, count: pollers)
            let spread = Duration.seconds(minLifetime) / max(1, slots.count)
            for (index, transport) in slots.enumerated() {
                group.addTask {
                    try? await clock.sleep(until: start + spread * index)
                    await sockets.run(slot: index, transport: transport, until: deadline)
                }
            }
            let rows = await report(stats: stats, sockets: sockets, server: server, start: start, deadline: deadline)
            // The server is gone: nothing more to learn.
            if !server.isRunning { group.cancelAll() }
            return rows
        }
    }

    /// Prints a line every sample interval until `deadline`.
    private func report(
        stats: SoakStats, sockets: SoakSockets, server: ProcessStats, start: ContinuousClock.Instant,
        deadline: ContinuousClock.Instant
    ) async -> [SoakRow] {
        let clock = ContinuousClock()
        print(SoakRow.header)
        fflush(nil)
        var rows: [SoakRow] = []
        var cpu = server.cpuSeconds
        var previous = start
        var next = start + .seconds(sampleInterval)
        while previous < deadline {
            let at = min(next, deadline)
            try? await clock.sleep(until: at)
            guard server.isRunning else {
                print("the server (pid \(pid)) is gone")
                break
            }
            let sample = server.sample()
            let (webSockets, pollers) = sockets.counts
            let row = SoakRow(
                elapsed: start.duration(to: at), server: sample,
                cpuPercent: (sample.cpuSeconds - cpu) / previous.duration(to: at).seconds * 100,
                webSockets: webSockets, pollers: pollers, interval: stats.take())
            print(row.line)
            for line in row.errorLines { print(line) }
            // As it is taken, also into a pipe or a file.
            fflush(nil)
            rows.append(row)
            cpu = sample.cpuSeconds
            previous = at
            next = at + .seconds(sampleInterval)
        }
        return rows
    }

    /// Starts `operation` `count` times every `period` from `start` until `deadline`, whatever the
    /// answers do (not at all for a count of 0).
    private static func openLoop(
        _ count: Int,
        per period: Duration,
        from start: ContinuousClock.Instant,
        until deadline: ContinuousClock.Instant,
        _ operation: @escaping @Sendable (_ sequence: Int, _ scheduled: ContinuousClock.Instant) async -> Void
    ) async {
        guard count > 0 else { return }
        let interval = period / count
        let clock = ContinuousClock()
        await withDiscardingTaskGroup { group in
            var sequence = 0
            while !Task.isCancelled {
                let scheduled = start + interval * sequence
                guard scheduled < deadline else { break }
                try? await clock.sleep(until: scheduled)
                let current = sequence
                group.addTask { await operation(current, scheduled) }
                sequence += 1
            }
        }
    }

    /// A chat line of some length, different every time.
    private static func text(_ sequence: Int) -> String {
        "soak \(sequence) " + String(repeating: "lorem ipsum ", count: sequence % 12)
    }
}
