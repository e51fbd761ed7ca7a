import NIOConcurrencyHelpers
import NIOCore

/// A Socket.IO namespace (`/` or one the application registered): its middleware, connection
/// handler, sockets and rooms.
public final class SocketNamespace: Sendable {
    public typealias Middleware = @Sendable (Socket) async throws -> Void
    public typealias ConnectionHandler = @Sendable (Socket) async -> Void

    public let name: String
    let adapter: any SocketIOAdapter

    private struct State {
        var middleware: [Middleware] = []
        var connectionHandler: ConnectionHandler?
        var sockets: [String: Socket] = [:]
        var rooms: [String: Set<String>] = [:]
        var socketRooms: [String: Set<String>] = [:]
    }

    private let state = NIOLockedValueBox(State())

    init(name: String, adapter: any SocketIOAdapter) {
        self.name = name
        self.adapter = adapter
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

    public func except(_ rooms: String...) -> BroadcastOperator { all.except(rooms) }

    public func emit(_ event: String, _ arguments: SocketValue...) {
        all.emit(event, arguments: arguments)
    }

    /// Sockets connected to this server.
    public var socketCount: Int { state.withLockedValue { $0.sockets.count } }

    public func socket(id: String) -> Socket? { state.withLockedValue { $0.sockets[id] } }

    // MARK: Rooms (this server's sockets)

    func join(_ socket: Socket, rooms: some Sequence<String>) {
        state.withLockedValue { state in
            guard state.sockets[socket.id] != nil else { return }
            for room in rooms {
                state.rooms[room, default: []].insert(socket.id)
                state.socketRooms[socket.id, default: []].insert(room)
            }
        }
    }

    func leave(_ socket: Socket, room: String) {
        state.withLockedValue { state in
            state.rooms[room]?.remove(socket.id)
            if state.rooms[room]?.isEmpty == true { state.rooms[room] = nil }
            state.socketRooms[socket.id]?.remove(room)
        }
    }

    func rooms(of socket: Socket) -> Set<String> {
        state.withLockedValue { $0.socketRooms[socket.id] ?? [] }
    }

    func localSockets(rooms: Set<String>, except: Set<String>) -> [Socket] {
        state.withLockedValue { state in
            if rooms.isEmpty, except.isEmpty { return Array(state.sockets.values) }
            var ids: Set<String>
            if rooms.isEmpty {
                ids = Set(state.sockets.keys)
            } else {
                ids = []
                for room in rooms { ids.formUnion(state.rooms[room] ?? []) }
            }
            for room in except { ids.subtract(state.rooms[room] ?? []) }
            return ids.compactMap { state.sockets[$0] }
        }
    }

    // MARK: Delivery

    /// Sends a broadcast to the addressed sockets of this server. The packet is encoded once;
    /// each event loop gets one task for all of its sockets.
    public func deliverLocally(_ broadcast: SocketBroadcast) {
        let targets = localSockets(rooms: broadcast.rooms, except: broadcast.exceptRooms)
        guard !targets.isEmpty else { return }
        let packet = SocketPacket(
            kind: .event,
            namespace: name,
            data: .array([.string(broadcast.event)] + broadcast.arguments)
        )
        let encoded = EncodedBroadcast(packet.encode().map(EnginePacket.message))
        var byLoop: [ObjectIdentifier: (any EventLoop, [EngineSession])] = [:]
        for socket in targets {
            let session = socket.client.session
            byLoop[ObjectIdentifier(session.eventLoop), default: (session.eventLoop, [])].1.append(session)
        }
        for (loop, sessions) in byLoop.values {
            loop.execute {
                for session in sessions { session.sendOnLoop(encoded) }
            }
        }
    }

    // MARK: Membership

    var middleware: [Middleware] { state.withLockedValue { $0.middleware } }
    var connectionHandler: ConnectionHandler? { state.withLockedValue { $0.connectionHandler } }

    func add(_ socket: Socket) {
        state.withLockedValue { state in
            state.sockets[socket.id] = socket
            state.rooms[socket.id, default: []].insert(socket.id)
            state.socketRooms[socket.id] = [socket.id]
        }
    }

    func remove(_ socket: Socket) {
        state.withLockedValue { state in
            state.sockets[socket.id] = nil
            for room in state.socketRooms.removeValue(forKey: socket.id) ?? [] {
                state.rooms[room]?.remove(socket.id)
                if state.rooms[room]?.isEmpty == true { state.rooms[room] = nil }
            }
        }
    }
}
