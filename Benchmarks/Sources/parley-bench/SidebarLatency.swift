import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore

/// Latency of the sidebar (`GET /api/message/users`) for a user with many conversations.
///
/// One request at a time, after a warm-up: the time a user waits for their sidebar, not the
/// server's throughput. scripts/bench seeds the conversations.
struct SidebarLatency: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "p50/p99 of GET /api/message/users for an existing user."
    )

    @Option(help: "Server base URL.") var url = "http://127.0.0.1:5001"
    @Option(help: "The user's email.") var email: String
    @Option(help: "The user's password.") var password: String
    @Option(help: "Requests to measure.") var requests = 300
    @Option(help: "Page size (the whole list when absent).") var limit: Int?
    @Option(help: "The sidebar's path: /api/message/users, or /api/conversations.") var path = "/api/message/users"

    func run() async throws {
        try await withBenchmarkClient(connections: 1) { http in
            let client = ParleyClient(http: http, baseURL: url)
            let session = try await client.logIn(email: email, password: password)
            let query = limit.map { "?limit=\($0)" } ?? ""
            var (entries, bytes) = (0, 0)
            for _ in 0..<20 { (entries, bytes) = try await client.contacts(as: session, path: path, query: query) }
            var recorder = LatencyRecorder()
            let clock = ContinuousClock()
            for _ in 0..<requests {
                let start = clock.now
                _ = try await client.contacts(as: session, path: path, query: query)
                recorder.record(clock.now - start)
            }
            print("GET \(path)\(query): \(entries) entries, \(bytes) bytes per answer")
            print("  \(recorder.summary)")
        }
    }
}
