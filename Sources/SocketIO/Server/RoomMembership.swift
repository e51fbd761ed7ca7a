/// Which sockets are in which rooms: the bookkeeping behind ``SocketNamespace``'s rooms and
/// broadcasts, for the sockets of one shard.
///
/// A socket's id is also a room holding only that socket (until it leaves it). That room is
/// implied by the socket being here, not stored: two sets and two table entries for every
/// connected socket were a twentieth of an idle connection's memory (see docs/benchmarks.md).
struct RoomMembership {
    private(set) var sockets: [String: Socket] = [:]
    /// The sockets in each room they joined (own rooms are implied).
    private var rooms: [String: Set<String>] = [:]
    /// The rooms each socket joined, for the sockets that joined any.
    private var socketRooms: [String: Set<String>] = [:]
    /// Sockets that left their own room.
    private var leftOwnRoom: Set<String> = []

    mutating func add(_ socket: Socket) {
        sockets[socket.id] = socket
    }

    mutating func remove(_ socket: Socket) {
        sockets[socket.id] = nil
        leftOwnRoom.remove(socket.id)
        for room in socketRooms.removeValue(forKey: socket.id) ?? [] {
            leaveRoom(room, socketID: socket.id)
        }
    }

    /// Joins rooms; a socket no longer (or not yet) present joins nothing.
    mutating func join(_ socket: Socket, rooms names: some Sequence<String>) {
        guard sockets[socket.id] != nil else { return }
        for room in names {
            if room == socket.id {
                leftOwnRoom.remove(room)
                continue
            }
            rooms[room, default: []].insert(socket.id)
            socketRooms[socket.id, default: []].insert(room)
        }
    }

    mutating func leave(_ socket: Socket, room: String) {
        if room == socket.id {
            if sockets[socket.id] != nil { leftOwnRoom.insert(room) }
            return
        }
        leaveRoom(room, socketID: socket.id)
        socketRooms[socket.id]?.remove(room)
        if socketRooms[socket.id]?.isEmpty == true { socketRooms[socket.id] = nil }
    }

    func rooms(of socket: Socket) -> Set<String> {
        var names = socketRooms[socket.id] ?? []
        if isInOwnRoom(socket.id) { names.insert(socket.id) }
        return names
    }

    /// At most how many sockets a broadcast to `rooms` (every socket when empty) reaches.
    func candidateCount(rooms names: Set<String>) -> Int {
        names.isEmpty
            ? sockets.count
            : names.reduce(0) { $0 + (rooms[$1]?.count ?? 0) + (isInOwnRoom($1) ? 1 : 0) }
    }

    /// The sockets in any of `rooms` (every socket when empty) and in none of `except`.
    func targets(rooms names: Set<String>, except: Set<String>) -> [Socket] {
        if except.isEmpty {
            if names.isEmpty { return Array(sockets.values) }
            if names.count == 1, let only = names.first {
                var targets = rooms[only]?.compactMap { sockets[$0] } ?? []
                if isInOwnRoom(only), let socket = sockets[only] { targets.append(socket) }
                return targets
            }
        }
        var ids: Set<String>
        if names.isEmpty {
            ids = Set(sockets.keys)
        } else {
            ids = []
            for room in names { ids.formUnion(members(of: room)) }
        }
        for room in except { ids.subtract(members(of: room)) }
        return ids.compactMap { sockets[$0] }
    }

    /// Whether `id` is a socket here that is in its own room.
    private func isInOwnRoom(_ id: String) -> Bool {
        sockets[id] != nil && !leftOwnRoom.contains(id)
    }

    private func members(of room: String) -> Set<String> {
        var ids = rooms[room] ?? []
        if isInOwnRoom(room) { ids.insert(room) }
        return ids
    }

    private mutating func leaveRoom(_ room: String, socketID: String) {
        rooms[room]?.remove(socketID)
        if rooms[room]?.isEmpty == true { rooms[room] = nil }
    }
}
