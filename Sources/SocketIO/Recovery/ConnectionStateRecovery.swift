/// Connection-state recovery, as socket.io 4.6 introduced it: a client that lost its connection
/// comes back with its private session id (`pid`) and the offset of the last event it saw; the
/// server gives it back its socket id, rooms and data and sends what it missed, in order, before
/// anything new. The client then reports `socket.recovered === true`.
///
/// Off unless set in ``SocketIOConfiguration/connectionStateRecovery``.
public struct ConnectionStateRecovery: Sendable {
    /// How long a disconnected session can be recovered (two minutes by default, as socket.io).
    public var maxDisconnectionDuration: Duration
    /// Whether a recovered socket joins without the namespace's middleware (socket.io's default).
    /// Keep them when they check credentials that may have been revoked meanwhile.
    public var skipMiddlewares: Bool
    /// Where sessions and missed packets are kept: by default in memory, bounded
    /// (``InMemoryRecoveryStore``); a store of the application's can serve any instance.
    public var store: any SocketRecoveryStore

    public init(
        maxDisconnectionDuration: Duration = .seconds(120),
        skipMiddlewares: Bool = true,
        store: (any SocketRecoveryStore)? = nil
    ) {
        self.maxDisconnectionDuration = maxDisconnectionDuration
        self.skipMiddlewares = skipMiddlewares
        self.store = store ?? InMemoryRecoveryStore(maxDisconnectionDuration: maxDisconnectionDuration)
    }

    /// Why a socket leaves that lets it come back recovered: its connection was lost or closed
    /// by the server, not left on purpose. The reference server's list.
    static func allowsRecovery(after reason: SocketDisconnectReason) -> Bool {
        switch reason {
        case .transportClose, .transportError, .pingTimeout, .forcedServerClose, .serverShuttingDown: true
        case .clientNamespaceDisconnect, .serverNamespaceDisconnect, .parseError, .sendBufferFull: false
        }
    }
}
