import Crypto
import Hummingbird
import Metrics
import ParleyChat
import ParleyDomain
import Prometheus
import SocketIO

/// `GET /metrics`: every metric in Prometheus' text format, for a scraper that presents
/// `METRICS_TOKEN` as a bearer token. Without a configured token the route does not exist: the
/// figures (traffic, users online) are not for the public.
///
/// Counters and timers are recorded where things happen, through swift-metrics; what is a state
/// rather than an event (open sockets, users online) is read when scraped.
struct MetricsController {
    let registry: PrometheusCollectorRegistry
    let token: String
    let engine: EngineIOServer
    let presence: PresenceService

    func addRoutes(to router: Router<ParleyRequestContext>) {
        router.get("metrics", use: metrics)
    }

    @Sendable func metrics(request: Request, context: ParleyRequestContext) async throws -> Response {
        guard let presented = SessionCookie.bearerToken(in: request), Self.constantTimeEqual(presented, token) else {
            throw ParleyError(.unauthorized, code: "unauthorized", message: "A valid metrics token is required")
        }
        let sockets = engine.sessionCounts
        Gauge(label: "parley_open_sockets", dimensions: [("transport", "polling")]).record(sockets.polling)
        Gauge(label: "parley_open_sockets", dimensions: [("transport", "websocket")]).record(sockets.webSocket)
        Gauge(label: "parley_users_online").record(await presence.onlineUsers().count)
        var buffer = ByteBuffer()
        buffer.writeBytes(registry.emitToBuffer())
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: buffer)
        )
    }

    /// Compares digests, so the time taken says nothing about how much of the token matched.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        SHA256.hash(data: Array(a.utf8)) == SHA256.hash(data: Array(b.utf8))
    }
}
