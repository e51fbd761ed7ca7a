/// Socket.IO server settings (Engine.IO's included).
public struct SocketIOConfiguration: Sendable {
    public var engine = EngineConfiguration()
    /// How long a client may take to join its first namespace before the connection is closed.
    public var connectTimeout: Duration = .seconds(45)
    /// Most binary attachments one packet may announce.
    public var maxAttachments = 10

    public init() {}
}
