import ArgumentParser
import AsyncHTTPClient
import Foundation

/// Sign-up + log-in + send + fetch, as fast as `--concurrency` clients can go.
struct RoundTrip: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Throughput of the signup + login + send + fetch round trip."
    )

    @Option(help: "Server base URL.") var url = "http://127.0.0.1:5001"
    @Option(help: "Concurrent clients.") var concurrency = 16
    @Option(help: "Seconds to measure (after a warm-up round per client).") var duration = 20

    func run() async throws {
        try await withBenchmarkClient(connections: concurrency) { http in
            try await measure(http: http)
        }
    }

    private func measure(http: HTTPClient) async throws {
        let client = ParleyClient(http: http, baseURL: url)
        let run = UUID().uuidString.prefix(8)
        let peer = try await client.signUp(email: "peer-\(run)@bench.example", password: "secret1")

        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(duration)
        let start = clock.now
        let results = try await withThrowingTaskGroup(of: (Int, [String: LatencyRecorder]).self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var steps: [String: LatencyRecorder] = [:]
                    var rounds = 0
                    while clock.now < deadline {
                        let email = "u\(worker)-\(rounds)-\(run)@bench.example"
                        var session: ParleyClient.Session!
                        try await steps.time("signup", clock) {
                            _ = try await client.signUp(email: email, password: "secret1")
                        }
                        try await steps.time("login", clock) {
                            session = try await client.logIn(email: email, password: "secret1")
                        }
                        try await steps.time("send", clock) {
                            try await client.send(as: session, to: peer.id, text: "hello \(rounds)")
                        }
                        try await steps.time("fetch", clock) {
                            try await client.conversation(as: session, with: peer.id)
                        }
                        rounds += 1
                    }
                    return (rounds, steps)
                }
            }
            var total = 0
            var merged: [String: LatencyRecorder] = [:]
            for try await (rounds, steps) in group {
                total += rounds
                for (name, recorder) in steps { merged[name, default: .init()].merge(recorder) }
            }
            return (total, merged)
        }
        let elapsed = start.duration(to: clock.now)
        print(
            "round trips: \(results.0) in \(String(format2: elapsed.seconds)) s = \(String(format2: Double(results.0) / elapsed.seconds)) round trips/s (concurrency \(concurrency))"
        )
        for step in ["signup", "login", "send", "fetch"] {
            print("  \(step): \(results.1[step]?.summary ?? "-")")
        }
    }
}

extension [String: LatencyRecorder] {
    mutating func time(_ step: String, _ clock: ContinuousClock, _ body: () async throws -> Void) async throws {
        let start = clock.now
        try await body()
        self[step, default: .init()].record(start.duration(to: clock.now))
    }
}
