import ArgumentParser
import AsyncHTTPClient
import Foundation

/// Latency of `GET /api/auth/check` while logins (bcrypt) arrive at a fixed rate.
///
/// Both streams are open-loop: requests start on a schedule whatever the answers do, and a
/// check's latency is measured from its scheduled start, so a stalled server cannot hide its
/// stall by slowing the load down (no coordinated omission).
struct CheckUnderLogins: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "p50/p99 of GET /api/auth/check while logins run at a fixed rate."
    )

    @Option(help: "Server base URL.") var url = "http://127.0.0.1:5001"
    @Option(help: "Logins per second in the background.") var loginRate = 20
    @Option(help: "Checks per second.") var checkRate = 200
    @Option(help: "Seconds to measure.") var duration = 30

    func run() async throws {
        try await withBenchmarkClient(connections: 64) { http in
            try await measure(http: http)
        }
    }

    private func measure(http: HTTPClient) async throws {
        let client = ParleyClient(http: http, baseURL: url)
        let run = UUID().uuidString.prefix(8)
        let email = "check-\(run)@bench.example"
        let session = try await client.signUp(email: email, password: "secret1")
        // Warm up connections.
        for _ in 0..<20 { try await client.check(as: session) }

        let clock = ContinuousClock()
        let start = clock.now + .milliseconds(100)
        let (checks, logins) = try await withThrowingTaskGroup(of: (LatencyRecorder, LatencyRecorder).self) { group in
            group.addTask {
                try await Self.openLoop(rate: checkRate, duration: duration, start: start, clock: clock) {
                    try await client.check(as: session)
                }
            }
            group.addTask {
                try await Self.openLoop(rate: loginRate, duration: duration, start: start, clock: clock) {
                    _ = try await client.logIn(email: email, password: "secret1")
                }
            }
            var results: [LatencyRecorder] = []
            for try await (recorder, _) in group { results.append(recorder) }
            // The task that scheduled more requests is the check stream.
            results.sort { $0.count > $1.count }
            return (results[0], results[1])
        }
        print("GET /api/auth/check at \(checkRate)/s with \(loginRate) logins/s for \(duration) s")
        print("  check: \(checks.summary)")
        print("  login: \(logins.summary)")
    }

    /// Starts `operation` every 1/rate seconds; returns latencies from each scheduled start.
    static func openLoop(
        rate: Int,
        duration: Int,
        start: ContinuousClock.Instant,
        clock: ContinuousClock,
        _ operation: @escaping @Sendable () async throws -> Void
    ) async throws -> (LatencyRecorder, LatencyRecorder) {
        let interval = Duration.seconds(1) / rate
        let total = rate * duration
        return try await withThrowingTaskGroup(of: Duration.self) { group in
            for index in 0..<total {
                let scheduled = start + interval * index
                try await clock.sleep(until: scheduled)
                group.addTask {
                    try await operation()
                    return scheduled.duration(to: clock.now)
                }
            }
            var recorder = LatencyRecorder()
            for try await latency in group { recorder.record(latency) }
            return (recorder, recorder)
        }
    }
}
