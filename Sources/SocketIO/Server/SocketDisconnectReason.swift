/// Why a socket left its namespace.
public enum SocketDisconnectReason: String, Sendable, Hashable {
    /// The client left the namespace (`socket.disconnect()` on the client).
    case clientNamespaceDisconnect = "client namespace disconnect"
    /// The server removed the socket from the namespace.
    case serverNamespaceDisconnect = "server namespace disconnect"
    /// The connection closed or was lost.
    case transportClose = "transport close"
    case transportError = "transport error"
    case parseError = "parse error"
    case pingTimeout = "ping timeout"
    /// The client did not read what was sent to it fast enough.
    case sendBufferFull = "send buffer full"
    /// The server closed the connection.
    case forcedServerClose = "forced server close"
    case serverShuttingDown = "server shutting down"

    init(_ reason: EngineCloseReason) {
        switch reason {
        case .transportClose: self = .transportClose
        case .transportError: self = .transportError
        case .parseError: self = .parseError
        case .pingTimeout: self = .pingTimeout
        case .sendBufferFull: self = .sendBufferFull
        case .forcedClose: self = .forcedServerClose
        case .serverShuttingDown: self = .serverShuttingDown
        }
    }
}
