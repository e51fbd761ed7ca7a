import ArgumentParser
import Foundation
import NIOCore
import NIOPosix
import Synchronization

/// Many idle WebSocket clients: memory per connection, idle CPU, then broadcasts to all of them.
struct SocketIOFanOut: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sio-fanout",
        abstract: "10,000 idle WebSocket clients: memory and idle CPU per connection, broadcast latency."
    )

    @Option var host = "127.0.0.1"
    @Option var port = 3000
    @Option(help: "The server's process id (for /proc memory and CPU readings).") var serverPid: Int32
    @Option var connections = 10_000
    @Option(help: "Seconds of idle measurement.") var idle = 60
    @Option(help: "Broadcasts to time.") var broadcasts = 10
    @Option(help: "Threads (epoll loops) receiving for the clients.") var clientThreads = 1
    @Option(help: "Microseconds a receiving loop lets events accumulate after a busy read (0: none).")
    var coalesceMicroseconds = 500

    func validate() throws {
        guard connections > 0, idle > 0, broadcasts > 0, clientThreads > 0 else {
            throw ValidationError("--connections, --idle, --broadcasts and --client-threads must be positive")
        }
    }

    func run() async throws {
        let server = ProcessStats(pid: serverPid)
        let baseline = server.residentBytes
        let clock = ContinuousClock()

        let start = clock.now
        let clients = try RawSocketIOReceivers(
            host: host, port: port, count: connections, threads: clientThreads,
            coalescing: .microseconds(coalesceMicroseconds))
        defer { clients.close() }
        print(
            "connected \(clients.count) WebSocket clients in \(String(format2: start.duration(to: clock.now).seconds)) s"
        )
        try await Task.sleep(for: .seconds(5))
        let loaded = server.residentBytes
        let perConnection = Double(loaded - baseline) / Double(clients.count)
        print(
            "server RSS: baseline \(baseline / 1_048_576) MiB, with \(clients.count) idle clients \(loaded / 1_048_576) MiB = \(String(format2: perConnection / 1024)) KiB per connection"
        )

        let cpuBefore = server.cpuSeconds
        try await Task.sleep(for: .seconds(idle))
        let cpu = server.cpuSeconds - cpuBefore
        print(
            "server CPU while idle (heartbeats only) over \(idle) s: \(String(format2: cpu)) CPU-s = \(String(format2: cpu / Double(idle) * 100))% of one core"
        )
        guard clients.closedCount == 0 else { throw BenchError("\(clients.closedCount) clients were disconnected") }

        // Broadcasts: one client asks, every client (sender included) gets the event.
        var lasts = LatencyRecorder()
        var firsts = LatencyRecorder()
        let serverCPUBefore = server.cpuSeconds
        let ownCPUBefore = ProcessStats(pid: getpid()).cpuSeconds
        for round in 0..<broadcasts {
            clients.expect(clients.count, eventsStartingWith: "42[\"broadcast\",\(round)]")
            let sent = clock.now
            try clients.send("42[\"broadcast\",\(round)]")
            guard let (first, last) = await clients.waitForArrivals(timeout: .seconds(30)) else {
                throw BenchError("broadcast \(round) incomplete")
            }
            lasts.record(sent.duration(to: last))
            firsts.record(sent.duration(to: first))
            try await Task.sleep(for: .milliseconds(500))
        }
        print("broadcast to \(clients.count) sockets, time until the last client has it: \(lasts.summary)")
        print("  time until the first client has it: \(firsts.summary)")
        let serverCPU = (server.cpuSeconds - serverCPUBefore) / Double(broadcasts)
        let ownCPU = (ProcessStats(pid: getpid()).cpuSeconds - ownCPUBefore) / Double(broadcasts)
        print(
            "  CPU per broadcast (incl. 0.5 s pauses): server \(String(format2: serverCPU * 1000)) ms, load generator \(String(format2: ownCPU * 1000)) ms"
        )
    }
}

/// Clients sending `echo` events and waiting for the acknowledgements.
struct SocketIOEcho: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sio-echo",
        abstract: "Echo throughput: events per second with acknowledgements."
    )

    @Option var host = "127.0.0.1"
    @Option var port = 3000
    @Option var connections = 100
    @Option(help: "Events each client keeps in flight.") var inFlight = 1
    @Option var duration = 20
    @Option(help: "The server's process id, for its CPU per acknowledged echo.") var serverPid: Int32?

    func run() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let clock = ContinuousClock()
        let counters = EchoCounters()
        var clients: [SocketIOBenchClient] = []
        var senders: [@Sendable () -> Void] = []
        for _ in 0..<connections {
            let pending = PendingAcks()
            let box = NIOLockedBox<SocketIOBenchClient?>(nil)
            let send: @Sendable () -> Void = {
                let id = pending.nextID.add(1, ordering: .relaxed).newValue
                pending.sentAt.withLock { $0[id] = clock.now }
                box.get()?.emit("2\(id)[\"echo\",\"hello\",{\"n\":\(id)}]")
            }
            let client = try await SocketIOBenchClient.connect(host: host, port: port, group: group) { promise in
                SocketIOBenchClient(
                    connected: promise,
                    onAck: { id, _ in
                        if let start = pending.sentAt.withLock({ $0.removeValue(forKey: id) }) {
                            let latency = start.duration(to: clock.now)
                            counters.latencies.withLock { $0.record(latency) }
                        }
                        counters.acked.add(1, ordering: .relaxed)
                        if counters.running.load(ordering: .relaxed) { send() }
                    })
            }
            box.set(client)
            clients.append(client)
            senders.append(send)
        }
        let meter = CPUMeter(servers: serverPid.map { [$0] } ?? [], postmaster: nil)
        let before = meter.read()
        let start = clock.now
        for send in senders {
            for _ in 0..<inFlight { send() }
        }
        try await Task.sleep(for: .seconds(duration))
        counters.running.store(false, ordering: .relaxed)
        let total = counters.acked.load(ordering: .relaxed)
        let elapsed = start.duration(to: clock.now).seconds
        print(
            "echo with ack: \(connections) clients x \(inFlight) in flight: \(total) acks in \(String(format2: elapsed)) s = \(String(format2: Double(total) / elapsed)) events/s"
        )
        print("  ack latency: \(counters.latencies.withLock { $0.summary })")
        meter.report(since: before, messages: total, seconds: elapsed, unit: "acknowledged echo")
        for client in clients { try? await client.channel?.close() }
    }
}

final class EchoCounters: Sendable {
    let acked = Atomic<Int>(0)
    let running = Atomic<Bool>(true)
    let latencies = Mutex(LatencyRecorder())
}

final class PendingAcks: Sendable {
    let nextID = Atomic<Int>(0)
    let sentAt = Mutex<[Int: ContinuousClock.Instant]>([:])
}
