import NIOCore
import SocketIO

/// Where the server listens, who may call it, and how long connections may take.
public struct ServerSettings: Sendable {
    /// `HOST`, `PORT`.
    public var host = "0.0.0.0"
    public var port = 5001
    /// `CORS_ORIGIN`: origins allowed to make credentialed cross-origin requests (and open
    /// sockets). In development, the Node app's frontend dev server.
    public var corsOrigins: [String] = []
    /// `PUBLIC_URL`: origin prefixed to upload URLs; empty for same-origin relative URLs.
    public var publicURL = ""
    /// `TRUST_PROXY`: take the client address from `X-Forwarded-For` (behind a reverse proxy).
    public var trustProxy = false
    /// `SHUTDOWN_TIMEOUT_SECONDS`: how long a graceful shutdown may take (requests in flight
    /// finishing, sockets told to reconnect elsewhere) before the rest is cancelled.
    public var shutdownTimeout: Duration = .seconds(30)
    /// `METRICS_TOKEN`: the bearer token `GET /metrics` requires; no token, no metrics route.
    public var metricsToken: String?
    /// `HTTP_HEADER_TIMEOUT_MS`, `HTTP_BODY_TIMEOUT_MS`, `HTTP_IDLE_TIMEOUT_MS`: how long a
    /// connection may take to send a request's head and body and may stay idle between requests.
    /// WebSockets and long-polls are not affected.
    public var httpLimits = HTTPConnectionGuardStateMachine.Limits()

    public init() {}

    init(reader values: ConfigurationValues, environment: ParleyConfiguration.Environment) throws {
        host = values.string("HOST") ?? host
        port = try values.integer("PORT", in: 1...65535) ?? port
        if let origins = values.string("CORS_ORIGIN") {
            corsOrigins = try origins.split(separator: ",").map { try Self.origin(String($0), key: "CORS_ORIGIN") }
        } else if environment == .development {
            corsOrigins = ["http://localhost:5173"]
        }
        if let publicURL = values.string("PUBLIC_URL") {
            self.publicURL = try Self.origin(publicURL, key: "PUBLIC_URL")
        }
        trustProxy = try values.boolean("TRUST_PROXY") ?? trustProxy
        if let seconds = try values.integer("SHUTDOWN_TIMEOUT_SECONDS", in: 1...3600) {
            shutdownTimeout = .seconds(seconds)
        }
        if let token = values.string("METRICS_TOKEN", isSecret: true) {
            guard token.utf8.count >= 16 else {
                throw ConfigurationError(key: "METRICS_TOKEN", "must be at least 16 characters")
            }
            metricsToken = token
        }
        httpLimits = try HTTPConnectionGuardStateMachine.Limits(reader: values)
    }

    /// `scheme://host[:port]` with nothing after it, as browsers send in `Origin`.
    static func origin(_ raw: String, key: String) throws -> String {
        var value = raw.trimmingCharacters(in: " \t")
        while value.hasSuffix("/") { value.removeLast() }
        let parts = value.split(separator: "://", maxSplits: 1)
        guard parts.count == 2, ["http", "https"].contains(parts[0].lowercased()), !parts[1].isEmpty,
            !parts[1].contains("/"), !parts[1].contains("?"), !parts[1].contains("#"), !parts[1].contains(" ")
        else {
            throw ConfigurationError(key: key, "'\(raw)' is not an origin like https://chat.example.com")
        }
        return "\(parts[0].lowercased())://\(parts[1].lowercased())"
    }
}

extension HTTPConnectionGuardStateMachine.Limits {
    /// `HTTP_HEADER_TIMEOUT_MS`, `HTTP_BODY_TIMEOUT_MS`, `HTTP_IDLE_TIMEOUT_MS` (100 ms to 1 h).
    init(reader values: ConfigurationValues) throws {
        self.init()
        if let timeout = try values.integer("HTTP_HEADER_TIMEOUT_MS", in: 100...3_600_000) {
            requestHead = .milliseconds(Int64(timeout))
        }
        if let timeout = try values.integer("HTTP_BODY_TIMEOUT_MS", in: 100...3_600_000) {
            requestBody = .milliseconds(Int64(timeout))
        }
        if let timeout = try values.integer("HTTP_IDLE_TIMEOUT_MS", in: 100...3_600_000) {
            idle = .milliseconds(Int64(timeout))
        }
    }
}
