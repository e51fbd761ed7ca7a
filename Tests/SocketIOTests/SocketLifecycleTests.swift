import HTTPTypes
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing

@testable import SocketIO

/// The Socket.IO layer driven directly (no transport) on a real event loop.
@Suite("Socket lifecycle")
struct SocketLifecycleTests {
    /// A connection to `io` whose packets the test injects.
    struct Harness {
        let loop: any EventLoop
        let session: EngineSession
        let client: SocketIOClient

        init(_ io: SocketIOServer, loop: any EventLoop) async throws {
            let handshake = EngineHandshake(headers: [:], query: [:], remoteAddress: nil)
            var configuration = EngineConfiguration()
            configuration.pingInterval = .seconds(60)
            let session = EngineSession(
                id: SessionID.make(),
                handshake: handshake,
                transport: .polling,
                configuration: configuration,
                eventLoop: loop,
                onClosed: { _ in }
            )
            let client = SocketIOClient(session: session, namespaces: io.namespaces, configuration: io.configuration)
            try await loop.submit {
                session.setDelegate(client)
                client.start()
            }.get()
            self.loop = loop
            self.session = session
            self.client = client
        }

        func receive(_ text: String) async throws {
            try await loop.submit {
                self.client.engineSession(self.session, didReceive: .text(ByteBuffer(string: text)))
            }.get()
        }

        func close() async throws {
            try await loop.submit { self.session.close(reason: .transportClose) }.get()
        }
    }

    /// Holds a socket weakly, to see whether anything else keeps it.
    final class WeakSocket: @unchecked Sendable {
        private let lock = NIOLock()
        private weak var socket: Socket?

        func set(_ socket: Socket) { lock.withLock { self.socket = socket } }
        var value: Socket? { lock.withLock { socket } }
    }

    static func waitUntil(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw CancellationError() }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    @Test func aDisconnectedSocketIsReleasedEvenThoughItsHandlersCaptureIt() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let io = SocketIOServer()
        let (connected, connectedInput) = AsyncStream.makeStream(of: Void.self)
        let (disconnected, disconnectedInput) = AsyncStream.makeStream(of: Void.self)
        let box = WeakSocket()
        io.main.onConnection { socket in
            // The usual pattern: handlers capture their socket.
            socket.on("ping") { _, _ in socket.emit("pong") }
            socket.onDisconnect { _ in
                _ = socket.id
                disconnectedInput.yield()
            }
            box.set(socket)
            connectedInput.yield()
        }
        let harness = try await Harness(io, loop: loop)
        try await harness.receive("0")
        _ = await connected.first { _ in true }
        #expect(box.value != nil)

        try await harness.close()
        _ = await disconnected.first { _ in true }
        try await Self.waitUntil { io.namespaces.liveSocketCount == 0 }
        #expect(box.value == nil, "the socket must not outlive its connection")
    }

    @Test func aDisconnectHandlerRegisteredAfterTheClientLeftStillRuns() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let io = SocketIOServer()
        let (entered, enteredInput) = AsyncStream.makeStream(of: Void.self)
        let (proceed, proceedInput) = AsyncStream.makeStream(of: Void.self)
        let (disconnected, disconnectedInput) = AsyncStream.makeStream(of: SocketDisconnectReason.self)
        io.main.onConnection { socket in
            enteredInput.yield()
            // Slow setup: the client leaves before the handler registers onDisconnect.
            _ = await proceed.first { _ in true }
            socket.onDisconnect { reason in disconnectedInput.yield(reason) }
        }
        let harness = try await Harness(io, loop: loop)
        try await harness.receive("0")
        _ = await entered.first { _ in true }
        try await harness.close()
        try await Self.waitUntil { !(io.main.socketCount > 0) }
        proceedInput.yield()
        let reason = await disconnected.first { _ in true }
        #expect(reason == .transportClose)
    }

    @Test func roomsJoinedInMiddlewareTakeEffect() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let io = SocketIOServer()
        let (connected, connectedInput) = AsyncStream.makeStream(of: Set<String>.self)
        io.main.use { socket in socket.join("from-middleware") }
        io.main.onConnection { socket in connectedInput.yield(socket.rooms) }
        let harness = try await Harness(io, loop: loop)
        try await harness.receive("0")
        let rooms = await connected.first { _ in true }
        #expect(rooms?.contains("from-middleware") == true)
        #expect(io.main.to("from-middleware").localSockets.count == 1)
        try await harness.close()
    }

    @Test func aFloodingClientIsDisconnectedAndToldSo() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        var configuration = SocketIOConfiguration()
        configuration.maxPendingEvents = 4
        let io = SocketIOServer(configuration: configuration)
        let (connected, connectedInput) = AsyncStream.makeStream(of: Void.self)
        let (blocked, blockedInput) = AsyncStream.makeStream(of: Void.self)
        let (reasons, reasonInput) = AsyncStream.makeStream(of: SocketDisconnectReason.self)
        io.main.onConnection { socket in
            socket.on("slow") { _, _ in _ = await blocked.first { _ in true } }
            socket.onDisconnect { reason in reasonInput.yield(reason) }
            connectedInput.yield()
        }
        let harness = try await Harness(io, loop: loop)
        try await harness.receive("0")
        _ = await connected.first { _ in true }
        for _ in 0..<10 { try await harness.receive(#"2["slow"]"#) }
        blockedInput.yield()
        blockedInput.finish()
        let reason = await reasons.first { _ in true }
        #expect(reason == .serverNamespaceDisconnect)
        // The client's next poll gets DISCONNECT, then the close: it does not reconnect by itself.
        let outcome = try await harness.session.poll(on: EmbeddedChannel()).get()
        guard case .packets(let packets) = outcome else {
            Issue.record("expected packets, got \(outcome)")
            return
        }
        #expect(packets.last == .close)
        #expect(packets.contains(.message(.text(ByteBuffer(string: "1")))))
    }
}
