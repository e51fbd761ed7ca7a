import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Metrics
import NIOCore
import ParleyChat
import ParleyDomain
import ParleyServer
import Prometheus
import Testing

/// Runs `body` against the real Parley router, built exactly as `parley serve` builds it, on a
/// fresh store of `kind`.
func withApp(
    _ kind: StoreKind,
    configuration extra: [String: String] = [:],
    _ body: @escaping @Sendable (TestAPI) async throws -> Void
) async throws {
    let directory = try ScratchDirectory()
    defer { directory.remove() }
    let configuration = try await testConfiguration(kind, directory: directory, extra: extra)
    var logger = Logger(label: "test")
    logger.logLevel = .warning
    let (application, components) = try await ParleyApplication.build(
        configuration: configuration, metrics: TestMetrics.registry, logger: logger)
    try await application.test(.router) { client in
        try await body(TestAPI(client: client, components: components, dataDirectory: directory.path))
    }
}

/// The metrics registry of the test process: `MetricsSystem` can be bootstrapped once per process,
/// so every test app shares it (counters only grow; tests compare before and after).
enum TestMetrics {
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }()
}

/// A JSON-speaking wrapper around the test client.
struct TestAPI: Sendable {
    let client: any TestClientProtocol
    let components: ParleyApplication.Components
    let dataDirectory: String

    struct Reply: Sendable {
        let status: HTTPResponse.Status
        let headers: HTTPFields
        let body: ByteBuffer

        var text: String { String(buffer: body) }
        var json: Any? { try? JSONSerialization.jsonObject(with: Data(buffer: body), options: [.fragmentsAllowed]) }
        var object: [String: Any] { json as? [String: Any] ?? [:] }
        var array: [[String: Any]] { json as? [[String: Any]] ?? [] }
        var code: String? { object["code"] as? String }
        var setCookie: String? { headers[.setCookie] }
    }

    /// A user who has signed up, and the header that carries their session.
    struct Session: Sendable {
        let id: String
        let email: String
        let token: String
        var cookie: HTTPFields { [.cookie: "jwt=\(token)"] }
        var bearer: HTTPFields { [.authorization: "Bearer \(token)"] }
    }

    @discardableResult
    func request(
        _ method: HTTPRequest.Method,
        _ uri: String,
        json: Any? = nil,
        raw: String? = nil,
        headers: HTTPFields = [:]
    ) async throws -> Reply {
        var headers = headers
        var body: ByteBuffer?
        if let json {
            body = ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: json))
            if headers[.contentType] == nil { headers[.contentType] = "application/json" }
        } else if let raw {
            body = ByteBuffer(string: raw)
            if headers[.contentType] == nil { headers[.contentType] = "application/json" }
        }
        let response = try await client.execute(uri: uri, method: method, headers: headers, body: body)
        return Reply(status: response.status, headers: response.headers, body: response.body)
    }

    /// Sends a `multipart/form-data` body: `fields` as text parts, then `file` (if any) as a part
    /// with a file name.
    @discardableResult
    func multipart(
        _ method: HTTPRequest.Method,
        _ uri: String,
        fields: [(String, String)] = [],
        file: (field: String, bytes: [UInt8])? = nil,
        headers: HTTPFields = [:]
    ) async throws -> Reply {
        let boundary = "test-boundary-\(UUID().uuidString)"
        var body = ByteBuffer()
        for (name, value) in fields {
            body.writeString("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n")
        }
        if let file {
            body.writeString(
                "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(file.field)\"; filename=\"picture.bin\"\r\n"
                    + "Content-Type: application/octet-stream\r\n\r\n")
            body.writeBytes(file.bytes)
            body.writeString("\r\n")
        }
        body.writeString("--\(boundary)--\r\n")
        var headers = headers
        headers[.contentType] = "multipart/form-data; boundary=\(boundary)"
        let response = try await client.execute(uri: uri, method: method, headers: headers, body: body)
        return Reply(status: response.status, headers: response.headers, body: response.body)
    }

    func signUp(name: String = "Ann", email: String? = nil, password: String = "secret1", avatar: String? = nil)
        async throws -> Session
    {
        let email = email ?? "user-\(UUID().uuidString.prefix(8))@example.com"
        var body: [String: Any] = ["name": name, "email": email, "password": password]
        if let avatar { body["avatar"] = avatar }
        let reply = try await request(.post, "/api/auth/signup", json: body)
        try #require(reply.status == .created, "signup failed: \(reply.text)")
        return Session(
            id: reply.object["_id"] as! String, email: email.lowercased(), token: try Self.token(from: reply))
    }

    static func token(from reply: Reply) throws -> String {
        let cookie = try #require(reply.setCookie)
        let pair = try #require(cookie.split(separator: ";").first)
        #expect(pair.hasPrefix("jwt="))
        return String(pair.dropFirst(4))
    }
}

extension Data {
    init(buffer: ByteBuffer) {
        self = buffer.withUnsafeReadableBytes { Data($0) }
    }
}
