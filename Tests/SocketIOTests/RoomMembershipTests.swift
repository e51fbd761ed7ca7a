import NIOPosix
import Testing

@testable import SocketIO

/// Rooms as a socket and a broadcast see them, own rooms included.
@Suite("Rooms")
struct RoomMembershipTests {
    @Test func aSocketsOwnRoomBehavesLikeAnyOtherRoom() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let io = SocketIOServer()
        let (connected, connectedInput) = AsyncStream.makeStream(of: Socket.self)
        io.main.onConnection { socket in connectedInput.yield(socket) }
        let first = try await SocketLifecycleTests.Harness(io, loop: loop)
        let second = try await SocketLifecycleTests.Harness(io, loop: loop)
        try await first.receive("0")
        try await second.receive("0")
        var iterator = connected.makeAsyncIterator()
        let a = try #require(await iterator.next())
        let b = try #require(await iterator.next())
        func ids(_ broadcast: BroadcastOperator) -> Set<String> { Set(broadcast.localSockets.map(\.id)) }

        #expect(a.rooms == [a.id])
        #expect(ids(io.main.to(a.id)) == [a.id])
        #expect(ids(io.main.except(a.id)) == [b.id])

        // Another socket may join a room named after a socket.
        b.join(a.id, "club")
        #expect(ids(io.main.to(a.id)) == [a.id, b.id])
        #expect(b.rooms == [b.id, a.id, "club"])
        #expect(ids(io.main.to(a.id, "club")) == [a.id, b.id])
        #expect(ids(io.main.to("club").except(a.id)).isEmpty)

        // A socket may leave its own room, and join it again.
        a.leave(a.id)
        #expect(a.rooms.isEmpty)
        #expect(ids(io.main.to(a.id)) == [b.id])
        #expect(ids(io.main.except(a.id)) == [a.id])
        a.join(a.id)
        #expect(a.rooms == [a.id])
        #expect(ids(io.main.to(a.id)) == [a.id, b.id])

        // A socket that leaves takes its rooms with it; the others keep theirs.
        try await first.close()
        try await SocketLifecycleTests.waitUntil { io.main.to(a.id).localSockets.count == 1 }
        #expect(ids(io.main.to(a.id)) == [b.id])
        b.leave(a.id)
        #expect(ids(io.main.to(a.id)).isEmpty)
        #expect(b.rooms == [b.id, "club"])
        try await second.close()
        try await SocketLifecycleTests.waitUntil { io.main.all.localSockets.isEmpty }
        #expect(ids(io.main.to("club")).isEmpty)
    }
}
