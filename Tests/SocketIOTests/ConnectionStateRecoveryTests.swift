import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing

@testable import SocketIO

/// Connection-state recovery through the Socket.IO layer on a real event loop, with polling
/// sessions whose packets the test reads.
@Suite("Connection-state recovery")
struct ConnectionStateRecoveryTests {
    typealias Harness = SocketLifecycleTests.Harness

    /// A recovery store that can hold ``missedPackets(of:after:)`` until the test lets it go.
    final class GatedStore: SocketRecoveryStore {
        let inner = InMemoryRecoveryStore()
        let (asked, askedInput) = AsyncStream.makeStream(of: Void.self)
        let (gate, gateInput) = AsyncStream.makeStream(of: Void.self)
        let gated: Bool

        init(gated: Bool) { self.gated = gated }

        func record(_ broadcast: SocketBroadcast, in namespace: String) -> String? {
            inner.record(broadcast, in: namespace)
        }
        func persist(_ session: RecoverableSession) async { await inner.persist(session) }
        func restore(pid: String, offset: String, namespace: String) async -> RecoverableSession? {
            await inner.restore(pid: pid, offset: offset, namespace: namespace)
        }
        func missedPackets(of session: RecoverableSession, after offset: String) async -> [[SocketValue]]? {
            if gated {
                askedInput.yield()
                for await _ in gate { break }
            }
            return await inner.missedPackets(of: session, after: offset)
        }
    }

    /// Reads `count` Socket.IO packets (as text) from a polling session.
    static func packets(_ count: Int, from harness: Harness) async throws -> [String] {
        var texts: [String] = []
        while texts.count < count {
            let outcome = try await harness.session.poll(on: EmbeddedChannel()).get()
            guard case .packets(let packets) = outcome else { throw CancellationError() }
            for case .message(.text(let buffer)) in packets { texts.append(String(buffer: buffer)) }
        }
        return texts
    }

    static func json(_ text: String, dropping prefix: Int) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(text.utf8.dropFirst(prefix)))
    }

    struct Connected {
        let socket: Socket
        let sid: String
        let pid: String
    }

    /// A server with recovery on; each socket joins `alice` and is reported.
    static func server(store: any SocketRecoveryStore) -> (SocketIOServer, AsyncStream<Socket>) {
        var configuration = SocketIOConfiguration()
        configuration.connectionStateRecovery = ConnectionStateRecovery(store: store)
        let io = SocketIOServer(configuration: configuration)
        let (sockets, input) = AsyncStream.makeStream(of: Socket.self)
        io.main.onConnection { socket in
            socket.join("alice")
            input.yield(socket)
        }
        return (io, sockets)
    }

    @Test func aSocketComesBackWithItsIdRoomsAndWhatItMissedInOrder() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let store = GatedStore(gated: false)
        let (io, sockets) = Self.server(store: store)
        var arrivals = sockets.makeAsyncIterator()
        let first = try await Harness(io, loop: loop)
        try await first.receive("0")
        let socket = try #require(await arrivals.next())
        #expect(!socket.recovered)
        let answer = try #require(
            try Self.json(try await Self.packets(1, from: first)[0], dropping: 1) as? [String: String])
        let (sid, pid) = (try #require(answer["sid"]), try #require(answer["pid"]))
        #expect(sid == socket.id)

        io.main.to("alice").emit("m", "seen")
        let seen = try #require(try Self.json(try await Self.packets(1, from: first)[0], dropping: 1) as? [String])
        #expect(seen.first == "m" && seen.count == 3)
        let offset = seen[2]

        try await first.close()
        try await SocketLifecycleTests.waitUntil { store.inner.counts.sessions == 1 }
        io.main.to("alice").emit("m", "missed 1")
        io.main.to("bob").emit("m", "not for alice")
        io.main.emit("m", "missed 2")

        let second = try await Harness(io, loop: loop)
        try await second.receive(#"0{"pid":"\#(pid)","offset":"\#(offset)"}"#)
        let recovered = try #require(await arrivals.next())
        #expect(recovered.recovered)
        #expect(recovered.id == sid)
        #expect(recovered.rooms.contains("alice"))
        let texts = try await Self.packets(3, from: second)
        #expect(try Self.json(texts[0], dropping: 1) as? [String: String] == ["sid": sid, "pid": pid])
        #expect((try Self.json(texts[1], dropping: 1) as? [String])?.prefix(2) == ["m", "missed 1"])
        #expect((try Self.json(texts[2], dropping: 1) as? [String])?.prefix(2) == ["m", "missed 2"])
        #expect(texts.count == 3)
        try await second.close()
    }

    /// `closeConnection()` is a lost network, not a goodbye: no DISCONNECT, and the client that
    /// comes back with its pid is recovered.
    @Test func aSocketWhoseConnectionTheServerClosedIsRecovered() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let store = InMemoryRecoveryStore()
        let (io, sockets) = Self.server(store: store)
        var arrivals = sockets.makeAsyncIterator()
        let first = try await Harness(io, loop: loop)
        try await first.receive("0")
        let socket = try #require(await arrivals.next())
        let answer = try #require(
            try Self.json(try await Self.packets(1, from: first)[0], dropping: 1) as? [String: String])
        let (sid, pid) = (try #require(answer["sid"]), try #require(answer["pid"]))
        io.main.to("alice").emit("m", "seen")
        let seen = try #require(try Self.json(try await Self.packets(1, from: first)[0], dropping: 1) as? [String])
        let offset = try #require(seen.last)
        let (reasons, reasonInput) = AsyncStream.makeStream(of: SocketDisconnectReason.self)
        socket.onDisconnect { reason in reasonInput.yield(reason) }

        socket.closeConnection()
        let outcome = try await first.session.poll(on: EmbeddedChannel()).get()
        guard case .packets(let packets) = outcome else {
            Issue.record("expected packets, got \(outcome)")
            return
        }
        // The engine's close packet, and no Socket.IO DISCONNECT before it.
        #expect(packets == [.close])
        var iterator = reasons.makeAsyncIterator()
        #expect(await iterator.next() == .forcedServerClose)
        try await SocketLifecycleTests.waitUntil { store.counts.sessions == 1 }

        let second = try await Harness(io, loop: loop)
        io.main.to("alice").emit("m", "missed")
        try await second.receive(#"0{"pid":"\#(pid)","offset":"\#(offset)"}"#)
        let recovered = try #require(await arrivals.next())
        #expect(recovered.recovered && recovered.id == sid)
        let texts = try await Self.packets(2, from: second)
        #expect((try Self.json(texts[1], dropping: 1) as? [String])?.prefix(2) == ["m", "missed"])
        try await second.close()
    }

    @Test func anUnknownSessionConnectsAsANewOne() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let (io, sockets) = Self.server(store: InMemoryRecoveryStore())
        var arrivals = sockets.makeAsyncIterator()
        let harness = try await Harness(io, loop: loop)
        try await harness.receive(#"0{"pid":"nobody","offset":"x-1"}"#)
        let socket = try #require(await arrivals.next())
        #expect(!socket.recovered)
        let answer = try Self.json(try await Self.packets(1, from: harness)[0], dropping: 1) as? [String: String]
        #expect(answer?["sid"] == socket.id)
        #expect(answer?["pid"] != nil && answer?["pid"] != "nobody")
        try await harness.close()
    }

    /// A store that keeps nothing per session: it issues pids that name their socket and
    /// recognises them alone, as Parley's does from its database.
    struct StatelessStore: SocketRecoveryStore {
        func record(_ broadcast: SocketBroadcast, in namespace: String) -> String? { "1" }
        func sessionID(for socket: Socket) -> String { "pid-" + socket.id }
        func persist(_ session: RecoverableSession) async {}
        func restore(pid: String, offset: String, namespace: String) async -> RecoverableSession? {
            guard pid.hasPrefix("pid-") else { return nil }
            return RecoverableSession(sid: String(pid.dropFirst(4)), pid: pid, namespace: namespace, rooms: ["alice"])
        }
        func missedPackets(of session: RecoverableSession, after offset: String) async -> [[SocketValue]]? { [] }
    }

    @Test func aStoreIssuesThePidAndASocketStillHereIsNotRestoredTwice() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let (io, sockets) = Self.server(store: StatelessStore())
        var arrivals = sockets.makeAsyncIterator()
        let first = try await Harness(io, loop: loop)
        try await first.receive("0")
        let socket = try #require(await arrivals.next())
        let answer = try Self.json(try await Self.packets(1, from: first)[0], dropping: 1) as? [String: String]
        #expect(answer == ["sid": socket.id, "pid": "pid-" + socket.id])

        // Its connection is lost but the server has not noticed: the pid connects anew.
        let early = try await Harness(io, loop: loop)
        try await early.receive(#"0{"pid":"pid-\#(socket.id)","offset":"1"}"#)
        let another = try #require(await arrivals.next())
        #expect(!another.recovered && another.id != socket.id)
        #expect(io.main.socket(id: socket.id) === socket)

        // Once it is gone, the same pid recovers it.
        try await first.close()
        try await SocketLifecycleTests.waitUntil { !socket.isConnected }
        let later = try await Harness(io, loop: loop)
        try await later.receive(#"0{"pid":"pid-\#(socket.id)","offset":"1"}"#)
        let recovered = try #require(await arrivals.next())
        #expect(recovered.recovered && recovered.id == socket.id && recovered.rooms.contains("alice"))
        try await early.close()
        try await later.close()
    }

    @Test func aSocketThatLeftOnPurposeIsNotKept() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let store = InMemoryRecoveryStore()
        let (io, sockets) = Self.server(store: store)
        var arrivals = sockets.makeAsyncIterator()
        let harness = try await Harness(io, loop: loop)
        try await harness.receive("0")
        let socket = try #require(await arrivals.next())
        try await harness.receive("1")
        try await SocketLifecycleTests.waitUntil { !socket.isConnected }
        try await harness.close()
        #expect(store.counts.sessions == 0)
    }

    @Test func whatArrivesDuringTheReplayFollowsItOnce() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let store = GatedStore(gated: true)
        let (io, sockets) = Self.server(store: store)
        var arrivals = sockets.makeAsyncIterator()
        let first = try await Harness(io, loop: loop)
        try await first.receive("0")
        _ = await arrivals.next()
        let answer = try Self.json(try await Self.packets(1, from: first)[0], dropping: 1) as? [String: String]
        let pid = try #require(answer?["pid"])
        io.main.to("alice").emit("m", "seen")
        let offset = try #require(
            (try Self.json(try await Self.packets(1, from: first)[0], dropping: 1) as? [String])?.last)
        try await first.close()
        try await SocketLifecycleTests.waitUntil { store.inner.counts.sessions == 1 }
        io.main.to("alice").emit("m", "missed")

        let second = try await Harness(io, loop: loop)
        try await second.receive(#"0{"pid":"\#(pid)","offset":"\#(offset)"}"#)
        // The socket is back in its rooms and the store is being asked: this one reaches it both
        // ways, and a direct one arrives live only.
        for await _ in store.asked { break }
        io.main.to("alice").emit("m", "during")
        store.gateInput.yield()
        _ = await arrivals.next()
        io.main.to("alice").emit("m", "after")
        let texts = try await Self.packets(4, from: second)
        let events = try texts.dropFirst().map { (try Self.json($0, dropping: 1) as? [String])?[1] }
        #expect(events == ["missed", "during", "after"])
        try await second.close()
    }
}
