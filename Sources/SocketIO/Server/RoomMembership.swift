/// Which sockets are in which rooms: the bookkeeping behind ``SocketNamespace``'s rooms and
/// broadcasts, for the sockets of one shard.
///
/// A socket's id is also a room holding only that socket.
struct RoomMembership {
    private(set) var sockets: [String: Socket] = [:]
    private var rooms: [String: Set<String>] = [:]
    private var socketRooms: [String: Set<String>] = [:]

    mutating func add(_ socket: Socket) {
        sockets[socket.id] = socket
        rooms[socket.id, default: []].insert(socket.id)
        socketRooms[socket.id] = [socket.id]
    }

    mutating func remove(_ socket: Socket) {
        sockets[socket.id] = nil
        for room in socketRooms.removeValue(forKey: socket.id) ?? [] {
            leaveRoom(room, socketID: socket.id)
        }
    }

    /// Joins rooms; a socket no longer (or not yet) present joins nothing.
    mutating func join(_ socket: Socket, rooms names: some Sequence<String>) {
        guard sockets[socket.id] != nil else { return }
        for room in names {
            rooms[room, default: []].insert(socket.id)
            socketRooms[socket.id, default: []].insert(room)
        }
    }

    mutating func leave(_ socket: Socket, room: String) {
        leaveRoom(room, socketID: socket.id)
        socketRooms[socket.id]?.remove(room)
    }

    func rooms(of socket: Socket) -> Set<String> {
        socketRooms[socket.id] ?? []
    }

    /// At most how many sockets a broadcast to `rooms` (every socket when empty) reaches.
    func candidateCount(rooms names: Set<String>) -> Int {
        names.isEmpty ? sockets.count : names.reduce(0) { $0 + (rooms[$1]?.count ?? 0) }
    }

    /// The sockets in any of `rooms` (every socket when empty) and in none of `except`.
    func targets(rooms names: Set<String>, except: Set<String>) -> [Socket] {
        if except.isEmpty {
            if names.isEmpty { return Array(sockets.values) }
            if names.count == 1, let only = names.first {
                return rooms[only]?.compactMap { sockets[$0] } ?? []
            }
        }
        var ids: Set<String>
        if names.isEmpty {
            ids = Set(sockets.keys)
        } else {
            ids = []
            for room in names { ids.formUnion(rooms[room] ?? []) }
        }
        for room in except { ids.subtract(rooms[room] ?? []) }
        return ids.compactMap { sockets[$0] }
    }

    private mutating func leaveRoom(_ room: String, socketID: String) {
        rooms[room]?.remove(socketID)
        if rooms[room]?.isEmpty == true { rooms[room] = nil }
    }
}
