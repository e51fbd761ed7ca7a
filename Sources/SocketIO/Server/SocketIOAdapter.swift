import NIOConcurrencyHelpers

/// Stands between "emit to these rooms" and delivery.
///
/// The default ``InMemoryAdapter`` delivers to this process's sockets. A cluster adapter also
/// forwards the broadcast to other servers (over a message bus), each of which calls
/// ``SocketNamespace/deliverLocally(_:)`` with it; room membership stays local to each server.
public protocol SocketIOAdapter: Sendable {
    func broadcast(_ broadcast: SocketBroadcast, in namespace: SocketNamespace)
}

/// Delivers broadcasts to the sockets of this process only.
public struct InMemoryAdapter: SocketIOAdapter {
    public init() {}

    public func broadcast(_ broadcast: SocketBroadcast, in namespace: SocketNamespace) {
        namespace.deliverLocally(broadcast)
    }
}

/// An event addressed to rooms of a namespace: everything a server needs to deliver it to its
/// own sockets.
public struct SocketBroadcast: Sendable, Hashable {
    public var event: String
    public var arguments: [SocketValue]
    /// Deliver to sockets in any of these rooms; empty means every socket of the namespace.
    public var rooms: Set<String>
    /// Skip sockets in any of these rooms (a socket id is a room holding that socket).
    public var exceptRooms: Set<String>
    /// With connection-state recovery: the offset sent as the event's last argument, so the
    /// client can say where it was when it comes back.
    public var offset: String?

    public init(
        event: String, arguments: [SocketValue], rooms: Set<String> = [], exceptRooms: Set<String> = [],
        offset: String? = nil
    ) {
        self.event = event
        self.arguments = arguments
        self.rooms = rooms
        self.exceptRooms = exceptRooms
        self.offset = offset
    }
}

/// Chooses rooms, then emits to them: `namespace.to("room").except("other").emit("event", …)`.
public struct BroadcastOperator: Sendable {
    let namespace: SocketNamespace
    var rooms: Set<String>
    var exceptRooms: Set<String>

    public func to(_ rooms: String...) -> BroadcastOperator {
        var copy = self
        copy.rooms.formUnion(rooms)
        return copy
    }

    public func to(_ rooms: some Sequence<String>) -> BroadcastOperator {
        var copy = self
        copy.rooms.formUnion(rooms)
        return copy
    }

    public func except(_ rooms: String...) -> BroadcastOperator {
        var copy = self
        copy.exceptRooms.formUnion(rooms)
        return copy
    }

    public func except(_ rooms: some Sequence<String>) -> BroadcastOperator {
        var copy = self
        copy.exceptRooms.formUnion(rooms)
        return copy
    }

    public func emit(_ event: String, _ arguments: SocketValue...) {
        emit(event, arguments: arguments)
    }

    /// Reserved names (`connect`, `disconnect`, …) are not sent. With connection-state recovery,
    /// the event gets `offset` as its last argument, or else one from the recovery store.
    public func emit(_ event: String, arguments: [SocketValue], offset: String? = nil) {
        guard !SocketPacket.reservedEvents.contains(event) else { return }
        var broadcast = SocketBroadcast(
            event: event, arguments: arguments, rooms: rooms, exceptRooms: exceptRooms, offset: offset)
        guard let recovery = namespace.recovery else {
            namespace.adapter.broadcast(broadcast, in: namespace)
            return
        }
        // Offsets reach each socket in the order they were handed out (a client keeps the last
        // one it saw): taking one and queueing the delivery on the event loops is one step.
        namespace.broadcastOrder.withLock {
            if broadcast.offset == nil {
                broadcast.offset = recovery.store.record(broadcast, in: namespace.name)
            }
            namespace.adapter.broadcast(broadcast, in: namespace)
        }
    }

    /// The local sockets this operator addresses.
    public var localSockets: [Socket] {
        namespace.localSockets(rooms: rooms, except: exceptRooms)
    }
}
