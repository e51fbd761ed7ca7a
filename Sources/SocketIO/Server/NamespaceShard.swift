import NIOConcurrencyHelpers
import NIOCore

/// The sockets of one namespace whose connections live on one event loop, with their rooms.
///
/// A broadcast is delivered shard by shard, each on its own loop, so the loops of a server send
/// in parallel and none waits for the targets of the others to be chosen. A broadcast that may
/// reach many sockets chooses its targets on the shard's loop too.
final class NamespaceShard: Sendable {
    let eventLoop: any EventLoop
    private let membership = NIOLockedValueBox(RoomMembership())

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func withMembership<Result>(_ body: (inout RoomMembership) -> Result) -> Result {
        membership.withLockedValue(body)
    }

    /// Broadcasts that may reach more sockets than this choose their targets on the shard's loop.
    static let inlineSelectionLimit = 64

    /// Sends `broadcast`, encoded once by the caller, to this shard's addressed sockets.
    func deliver(_ broadcast: SocketBroadcast, encoded: EncodedBroadcast) {
        let (count, targets) = membership.withLockedValue { membership -> (Int, [Socket]?) in
            let count = membership.candidateCount(rooms: broadcast.rooms)
            guard count > 0, count <= Self.inlineSelectionLimit else { return (count, nil) }
            return (count, membership.targets(rooms: broadcast.rooms, except: broadcast.exceptRooms))
        }
        if let targets {
            guard !targets.isEmpty else { return }
            eventLoop.execute {
                for socket in targets { socket.client.deliverOnLoop(encoded, offset: broadcast.offset, to: socket) }
            }
        } else if count > 0 {
            eventLoop.execute { [self] in
                // The loop's own copy of the frames: every write retains and releases them, and a
                // buffer shared by the loops would bounce between their cores.
                let local = encoded.copied(allocator: ByteBufferAllocator())
                let targets = membership.withLockedValue {
                    $0.targets(rooms: broadcast.rooms, except: broadcast.exceptRooms)
                }
                for socket in targets { socket.client.deliverOnLoop(local, offset: broadcast.offset, to: socket) }
            }
        }
    }
}
