/// Realtime settings, from configuration.
public struct RealtimeSettings: Sendable {
    /// How long a user stays online after their last device disconnects (`PRESENCE_GRACE_MS`).
    public var presenceGrace: Duration = .seconds(3)
    /// How often an instance heartbeats (`PRESENCE_HEARTBEAT_MS`).
    public var heartbeat: Duration = .seconds(5)
    /// How long an instance may miss heartbeats before its users go offline (`PRESENCE_TTL_MS`).
    public var presenceTTL: Duration = .seconds(15)
    /// Events a socket may send per second, on average (`SOCKET_EVENT_RATE`).
    public var eventRate: Int = 20
    /// Events a socket may send in a burst (`SOCKET_EVENT_BURST`).
    public var eventBurst: Int = 40
    /// Engine.IO heartbeat (`SOCKETIO_PING_INTERVAL_MS`, `SOCKETIO_PING_TIMEOUT_MS`).
    public var pingInterval: Duration = .seconds(25)
    public var pingTimeout: Duration = .seconds(20)

    public init() {}
}
