import NIOConcurrencyHelpers
import NIOCore

/// A Socket.IO namespace (`/` or one the application registered): its middleware, connection
/// handler, sockets and rooms.
public final class SocketNamespace: Sendable {
    public typealias Middleware = @Sendable (Socket) async throws -> Void
    public typealias ConnectionHandler = @Sendable (Socket) async -> Void

    public let name: String
    let adapter: any SocketIOAdapter
    /// Connection-state recovery, when the server enables it.
    let recovery: ConnectionStateRecovery?
    /// Held while a broadcast takes its recovery offset and is queued for delivery.
    let broadcastOrder = NIOLock()

    private struct State {
        var middleware: [Middleware] = []
        var connectionHandler: ConnectionHandler?
    }

    private let state = NIOLockedValueBox(State())
    /// This server's sockets and rooms, one shard per event loop their connections live on.
    private let shards = NIOLockedValueBox<[ObjectIdentifier: NamespaceShard]>([:])

    init(name: String, adapter: any SocketIOAdapter, recovery: ConnectionStateRecovery? = nil) {
        self.name = name
        self.adapter = adapter
        self.recovery = recovery
    }

    /// Adds a middleware run for every CONNECT, in order, before the connection handler. Throw
    /// ``ConnectionRefused`` to refuse (other errors refuse with their description).
    public func use(_ middleware: @escaping Middleware) {
        state.withLockedValue { $0.middleware.append(middleware) }
    }

    /// Sets what runs for each socket that joins; events from the client wait until it returns,
    /// so register the socket's handlers here.
    public func onConnection(_ handler: @escaping ConnectionHandler) {
        state.withLockedValue { $0.connectionHandler = handler }
    }

    /// Every socket of the namespace, on every server the adapter reaches.
    public var all: BroadcastOperator { BroadcastOperator(namespace: self, rooms: [], exceptRooms: []) }

    public func to(_ rooms: String...) -> BroadcastOperator { all.to(rooms) }

    /// The sockets in any of `rooms`.
    public func to(_ rooms: some Sequence<String>) -> BroadcastOperator { all.to(rooms) }

    public func except(_ rooms: String...) -> BroadcastOperator { all.except(rooms) }

    public func emit(_ event: String, _ arguments: SocketValue...) {
        all.emit(event, arguments: arguments)
    }

    /// Sockets connected to this server.
    public var socketCount: Int {
        allShards.reduce(0) { $0 + $1.withMembership { $0.sockets.count } }
    }

    public func socket(id: String) -> Socket? {
        for shard in allShards {
            if let socket = shard.withMembership({ $0.sockets[id] }) { return socket }
        }
        return nil
    }

    private var allShards: [NamespaceShard] { shards.withLockedValue { Array($0.values) } }

    /// The shard of the sockets living on `eventLoop`, made on first use.
    private func shard(for eventLoop: any EventLoop) -> NamespaceShard {
        shards.withLockedValue { shards in
            if let shard = shards[ObjectIdentifier(eventLoop)] { return shard }
            let shard = NamespaceShard(eventLoop: eventLoop)
            shards[ObjectIdentifier(eventLoop)] = shard
            return shard
        }
    }

    private func shard(of socket: Socket) -> NamespaceShard { shard(for: socket.eventLoop) }

    // MARK: Rooms (this server's sockets)

    func join(_ socket: Socket, rooms: some Sequence<String>) {
        shard(of: socket).withMembership { $0.join(socket, rooms: rooms) }
    }

    func leave(_ socket: Socket, room: String) {
        shard(of: socket).withMembership { $0.leave(socket, room: room) }
    }

    func rooms(of socket: Socket) -> Set<String> {
        shard(of: socket).withMembership { $0.rooms(of: socket) }
    }

    func localSockets(rooms: Set<String>, except: Set<String>) -> [Socket] {
        allShards.flatMap { shard in shard.withMembership { $0.targets(rooms: rooms, except: except) } }
    }

    // MARK: Delivery

    /// Sends a broadcast to the addressed sockets of this server. The packet is encoded once;
    /// each event loop's shard sends to its own sockets (see ``NamespaceShard``).
    public func deliverLocally(_ broadcast: SocketBroadcast) {
        let shards = allShards
        guard !shards.isEmpty else { return }
        let packet = SocketPacket(
            kind: .event,
            namespace: name,
            data: .array(
                [.string(broadcast.event)] + broadcast.arguments + (broadcast.offset.map { [.string($0)] } ?? []))
        )
        let encoded = EncodedBroadcast(packet.encode().map(EnginePacket.message))
        for shard in shards { shard.deliver(broadcast, encoded: encoded) }
    }

    // MARK: Membership

    var middleware: [Middleware] { state.withLockedValue { $0.middleware } }
    var connectionHandler: ConnectionHandler? { state.withLockedValue { $0.connectionHandler } }

    func add(_ socket: Socket) {
        shard(of: socket).withMembership { $0.add(socket) }
    }

    func remove(_ socket: Socket) {
        shard(of: socket).withMembership { $0.remove(socket) }
    }
}
