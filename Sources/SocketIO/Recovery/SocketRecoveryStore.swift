/// Keeps what connection-state recovery needs: the sessions of disconnected sockets and the
/// broadcasts they may have missed.
///
/// The server calls ``record(_:in:)`` for every broadcast it emits (without acknowledgement) to
/// get the offset appended to it; ``persist(_:)`` when a socket leaves for a reason that allows
/// recovery; on a CONNECT carrying `pid` and `offset`, ``restore(pid:offset:namespace:)`` and,
/// once the socket is back in its rooms, ``missedPackets(of:after:)``. Packets broadcast between
/// those two calls reach the socket both ways; the server sends them once (by offset).
public protocol SocketRecoveryStore: Sendable {
    /// The offset appended to `broadcast` (the last argument the client sees), or `nil` to send
    /// it without one. A broadcast that already carries an ``SocketBroadcast/offset`` is not
    /// passed here.
    func record(_ broadcast: SocketBroadcast, in namespace: String) -> String?

    /// The private session id (`pid`) of a socket that connects anew, once the namespace's
    /// middleware has accepted it (or of a recovered one whose missed packets are gone). By
    /// default a random one; a store that serves several instances can put in it what it needs
    /// to recognise the session anywhere, and should sign it.
    func sessionID(for socket: Socket) -> String

    /// A socket left and may come back within the recovery window.
    func persist(_ session: RecoverableSession) async

    /// The session to give back, removed from the store (a `pid` recovers once), or `nil` when it
    /// is unknown, expired, or `offset` is not one the store can replay from.
    func restore(pid: String, offset: String, namespace: String) async throws -> RecoverableSession?

    /// The arguments (event name first, offset last) of every packet broadcast after `offset`
    /// to the rooms `session` was in, in order; `nil` when they are no longer all known.
    func missedPackets(of session: RecoverableSession, after offset: String) async throws -> [[SocketValue]]?
}

extension SocketRecoveryStore {
    public func sessionID(for socket: Socket) -> String {
        SessionID.make()
    }
}

/// What a socket gets back when it recovers.
public struct RecoverableSession: Sendable {
    /// The socket id.
    public var sid: String
    /// The private session id the client presents to recover (never shown to other clients).
    public var pid: String
    public var namespace: String
    public var rooms: Set<String>
    /// The socket's data (``Socket/subscript(data:)``); stores that cannot keep it return it
    /// empty, and the namespace's middleware sets it again (``ConnectionStateRecovery/skipMiddlewares``).
    public var data: SocketData

    public init(sid: String, pid: String, namespace: String, rooms: Set<String>, data: SocketData = .init()) {
        self.sid = sid
        self.pid = pid
        self.namespace = namespace
        self.rooms = rooms
        self.data = data
    }
}

/// The values an application keeps on a socket, by ``SocketDataKey``.
public struct SocketData: Sendable {
    var values: [ObjectIdentifier: any Sendable] = [:]

    public init() {}

    init(values: [ObjectIdentifier: any Sendable]) {
        self.values = values
    }

    public subscript<Key: SocketDataKey>(key: Key.Type) -> Key.Value? {
        get { values[ObjectIdentifier(key)] as? Key.Value }
        set { values[ObjectIdentifier(key)] = newValue }
    }
}
