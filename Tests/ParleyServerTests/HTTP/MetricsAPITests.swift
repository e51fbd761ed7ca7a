import Foundation
import HTTPTypes
import ParleyChat
import ParleyDomain
import Testing

@testable import ParleyTesting

@Suite("HTTP: /metrics")
struct MetricsAPITests {
    static let token = "a-metrics-token-for-tests"

    /// The value of the first sample line of `name` whose labels contain `labels`.
    static func sample(_ name: String, labels: String = "", in text: String) -> Double? {
        for line in text.split(separator: "\n") where line.hasPrefix(name) && !line.hasPrefix("#") {
            let key = line.split(separator: " ").first.map(String.init) ?? ""
            guard key == name || key.hasPrefix(name + "{"), labels.isEmpty || key.contains(labels) else { continue }
            return line.split(separator: " ").last.flatMap { Double($0) }
        }
        return nil
    }

    @Test func metricsNeedTheToken() async throws {
        try await withApp(.sqlite, configuration: ["METRICS_TOKEN": Self.token]) { api in
            #expect(try await api.request(.get, "/metrics").status == .unauthorized)
            let wrong = try await api.request(.get, "/metrics", headers: [.authorization: "Bearer wrong"])
            #expect(wrong.status == .unauthorized)
            let reply = try await api.request(.get, "/metrics", headers: [.authorization: "Bearer \(Self.token)"])
            #expect(reply.status == .ok)
            #expect(reply.headers[.contentType]?.hasPrefix("text/plain; version=0.0.4") == true)
            // The scheme is case-insensitive (RFC 9110); a session cookie is no metrics token.
            let lower = try await api.request(.get, "/metrics", headers: [.authorization: "bearer \(Self.token)"])
            #expect(lower.status == .ok)
            let cookie = try await api.request(.get, "/metrics", headers: [.cookie: "jwt=\(Self.token)"])
            #expect(cookie.status == .unauthorized)
        }
    }

    @Test func withoutATokenThereIsNoMetricsRoute() async throws {
        try await withApp(.sqlite) { api in
            let reply = try await api.request(.get, "/metrics")
            #expect(reply.status == .notFound)
        }
    }

    @Test(arguments: StoreKind.available)
    func countsRequestsMessagesUploadsAndStoreCalls(kind: StoreKind) async throws {
        try await withApp(kind, configuration: ["METRICS_TOKEN": Self.token]) { api in
            let scrape = {
                try await api.request(.get, "/metrics", headers: [.authorization: "Bearer \(Self.token)"]).text
            }
            let before = try await scrape()
            let ann = try await api.signUp(name: "Ann")
            let bob = try await api.signUp(name: "Bob")
            try await api.request(
                .post, "/api/message", json: ["to": bob.id, "text": "hi", "image": TestImages.dataURI(TestImages.gif)],
                headers: ann.cookie)
            let after = try await scrape()
            let sent = { (text: String) in Self.sample("parley_messages_sent_total", in: text) ?? 0 }
            #expect(sent(after) >= sent(before) + 1)
            let uploads = { (text: String) in
                Self.sample("parley_uploads_total", labels: "backend=\"local\"", in: text) ?? 0
            }
            #expect(uploads(after) >= uploads(before) + 1)
            #expect(after.contains("parley_store_call_duration_bucket"))
            // Requests by route template (not by id) and status, with a latency histogram.
            #expect(after.contains("hb_requests{") && after.contains("/api/message"))
            #expect(after.contains("http_server_request_duration_bucket"))
            #expect(after.contains("parley_open_sockets{transport=\"websocket\"}"))
            #expect(Self.sample("parley_users_online", in: after) != nil)
        }
    }
}
