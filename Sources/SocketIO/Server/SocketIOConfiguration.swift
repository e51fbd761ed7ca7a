/// Socket.IO server settings (Engine.IO's included).
public struct SocketIOConfiguration: Sendable {
    public var engine = EngineConfiguration()
    /// How long a client may take to join its first namespace before the connection is closed.
    public var connectTimeout: Duration = .seconds(45)
    /// Largest CONNECT packet (its `auth` payload) accepted, in bytes. The payload is kept for the
    /// socket's life (``SocketHandshake/auth``), so it is held small; a bigger one is refused with
    /// CONNECT_ERROR. A token and a recovery offset need a few hundred bytes.
    public var maxConnectPayloadBytes = 8 * 1024
    /// Most binary attachments one packet may announce.
    public var maxAttachments = 10
    /// Most events one socket may have waiting for its handlers, in number and in bytes; a client
    /// that floods past either is disconnected, so a slow handler cannot make memory grow.
    public var maxPendingEvents = 256
    public var maxPendingEventBytes = 4 * 1_000_000
    /// Connection-state recovery (off by default, as in socket.io): see ``ConnectionStateRecovery``.
    public var connectionStateRecovery: ConnectionStateRecovery?

    public init() {}
}
