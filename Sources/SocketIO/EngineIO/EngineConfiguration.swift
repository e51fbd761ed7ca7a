/// Engine.IO server settings.
public struct EngineConfiguration: Sendable {
    /// How often the server pings (25 s by default, as socket.io's server).
    public var pingInterval: Duration = .seconds(25)
    /// How long a pong may take before the session is closed.
    public var pingTimeout: Duration = .seconds(20)
    /// Largest message or polling request body accepted, in bytes (advertised as `maxPayload`).
    public var maxPayload: Int = 1_000_000
    /// How long an upgrade to WebSocket may take from the WebSocket opening to the `5` packet.
    public var upgradeTimeout: Duration = .seconds(10)
    /// Bytes that may wait to be sent to one client (polling buffer or WebSocket socket buffer)
    /// before the client is considered unable to keep up and is disconnected.
    public var maxBufferedBytes: Int = 4 * 1_048_576
    /// Whether clients may use (and upgrade to) WebSocket.
    public var allowWebSocket: Bool = true
    /// Whether clients may use HTTP long-polling.
    public var allowPolling: Bool = true
    /// How long a server-closed polling session waits for the client's next poll to deliver the
    /// close packet.
    public var closeTimeout: Duration = .seconds(30)
    /// Most sessions open at once. A handshake past it is answered 503 (`Server is full`): every
    /// session holds memory until it closes, and one that never joins a namespace lives until
    /// the Socket.IO connect timeout, so without a bound a flood of handshakes grows memory for
    /// as long as it lasts. Unlimited by default, as the reference server.
    public var maxSessions: Int = .max

    public init() {}
}
