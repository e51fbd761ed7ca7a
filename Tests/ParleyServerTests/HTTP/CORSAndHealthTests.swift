import HTTPTypes
import Testing

@testable import ParleyTesting

@Suite("HTTP: CORS and health")
struct CORSAndHealthTests {
    @Test func allowedOriginsGetCredentialedCORS() async throws {
        try await withApp(.sqlite) { api in
            let reply = try await api.request(.get, "/healthz", headers: [.origin: "http://allowed.example"])
            #expect(reply.headers[.accessControlAllowOrigin] == "http://allowed.example")
            #expect(reply.headers[.accessControlAllowCredentials] == "true")

            let preflight = try await api.request(
                .options,
                "/api/auth/login",
                headers: [
                    .origin: "http://allowed.example", .accessControlRequestMethod: "POST",
                    .accessControlRequestHeaders: "content-type",
                ]
            )
            #expect(preflight.status == .noContent)
            #expect(preflight.headers[.accessControlAllowOrigin] == "http://allowed.example")
            #expect(preflight.headers[.accessControlAllowMethods]?.contains("POST") == true)

            // Errors carry the headers too, so the page can read the message.
            let error = try await api.request(.get, "/api/auth/check", headers: [.origin: "http://allowed.example"])
            #expect(error.status == .unauthorized)
            #expect(error.headers[.accessControlAllowOrigin] == "http://allowed.example")
        }
    }

    @Test func otherOriginsGetNothing() async throws {
        try await withApp(.sqlite) { api in
            for origin in ["http://evil.example", "http://allowed.example.evil.com", "null"] {
                let reply = try await api.request(.get, "/healthz", headers: [.origin: origin])
                #expect(reply.headers[.accessControlAllowOrigin] == nil)
                #expect(reply.headers[.accessControlAllowCredentials] == nil)
                let preflight = try await api.request(
                    .options, "/api/auth/login", headers: [.origin: origin, .accessControlRequestMethod: "POST"])
                #expect(preflight.headers[.accessControlAllowOrigin] == nil)
            }
        }
    }

    @Test(arguments: StoreKind.available)
    func healthAndReadiness(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let health = try await api.request(.get, "/healthz")
            #expect(health.status == .ok)
            #expect(health.object["status"] as? String == "ok")
            let ready = try await api.request(.get, "/readyz")
            #expect(ready.status == .ok)
            #expect(ready.object["status"] as? String == "ready")
        }
    }
}
