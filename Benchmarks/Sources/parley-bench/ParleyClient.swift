import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// The few API calls the benchmarks make, over a shared AsyncHTTPClient.
struct ParleyClient: Sendable {
    let http: HTTPClient
    let baseURL: String

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    struct Session: Sendable {
        let id: String
        let token: String
    }

    func signUp(email: String, password: String) async throws -> Session {
        try await session(
            path: "/api/auth/signup", body: ["name": "Bench", "email": email, "password": password], expect: 201)
    }

    func logIn(email: String, password: String) async throws -> Session {
        try await session(path: "/api/auth/login", body: ["email": email, "password": password], expect: 200)
    }

    func send(as session: Session, to peer: String, text: String) async throws {
        _ = try await call("POST", "/api/message", token: session.token, body: ["to": peer, "text": text], expect: 201)
    }

    func conversation(as session: Session, with peer: String) async throws {
        _ = try await call("GET", "/api/message/\(peer)?limit=50", token: session.token, expect: 200)
    }

    /// Creates a group of `members` (ids); returns its id.
    func createGroup(as session: Session, name: String, members: [String]) async throws -> String {
        let body = try JSONSerialization.data(withJSONObject: ["name": name, "members": members] as [String: Any])
        let (_, bytes) = try await raw("POST", "/api/groups", token: session.token, json: body, expect: 201)
        let json = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any]
        guard let id = json?["_id"] as? String else { throw Failure(description: "POST /api/groups: no _id") }
        return id
    }

    func sendToGroup(as session: Session, group: String, text: String) async throws {
        _ = try await call("POST", "/api/groups/\(group)/messages", token: session.token, body: ["text": text], expect: 201)
    }

    /// The sidebar (`path`: `/api/message/users` or `/api/conversations`); returns how many
    /// entries and bytes it had.
    func contacts(as session: Session, path: String = "/api/message/users", query: String = "") async throws
        -> (entries: Int, bytes: Int)
    {
        let (_, bytes) = try await raw("GET", "\(path)\(query)", token: session.token, expect: 200)
        let entries = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [Any]
        return (entries?.count ?? 0, bytes.readableBytes)
    }

    func check(as session: Session) async throws {
        _ = try await call("GET", "/api/auth/check", token: session.token, expect: 200)
    }

    private func session(path: String, body: [String: String], expect: UInt) async throws -> Session {
        let (head, json) = try await call("POST", path, body: body, expect: expect)
        guard let id = json["_id"] as? String,
            let cookie = head.headers["set-cookie"].first,
            let pair = cookie.split(separator: ";").first, pair.hasPrefix("jwt=")
        else { throw Failure(description: "\(path): no session in the answer") }
        return Session(id: id, token: String(pair.dropFirst(4)))
    }

    @discardableResult
    private func call(
        _ method: String,
        _ path: String,
        token: String? = nil,
        body: [String: String]? = nil,
        expect: UInt
    ) async throws -> (HTTPClientResponse, [String: Any]) {
        let (response, bytes) = try await raw(method, path, token: token, body: body, expect: expect)
        let json = (try? JSONSerialization.jsonObject(with: Data(bytes.readableBytesView))) as? [String: Any] ?? [:]
        return (response, json)
    }

    private func raw(
        _ method: String,
        _ path: String,
        token: String? = nil,
        body: [String: String]? = nil,
        json: Data? = nil,
        expect: UInt
    ) async throws -> (HTTPClientResponse, ByteBuffer) {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = HTTPMethod(rawValue: method)
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        } else if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: json))
        }
        let response = try await http.execute(request, timeout: .seconds(30))
        let bytes = try await response.body.collect(upTo: 16 * 1024 * 1024)
        guard response.status.code == expect else {
            throw Failure(description: "\(method) \(path): \(response.status.code) \(String(buffer: bytes))")
        }
        return (response, bytes)
    }
}

/// Runs `body` with an HTTP client sized for `connections` concurrent requests, then shuts it down.
func withBenchmarkClient<Result>(
    connections: Int,
    _ body: (HTTPClient) async throws -> Result
) async throws -> Result {
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool = .init(
        idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
    let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    do {
        let result = try await body(http)
        try await http.shutdown()
        return result
    } catch {
        try? await http.shutdown()
        throw error
    }
}
