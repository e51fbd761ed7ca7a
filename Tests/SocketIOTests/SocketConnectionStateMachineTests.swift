import NIOCore
import Testing

@testable import SocketIO

@Suite("Socket.IO connection state machine")
struct SocketConnectionStateMachineTests {
    typealias Machine = SocketConnectionStateMachine
    let start = NIODeadline.uptimeNanoseconds(1_000_000_000)

    func machine() -> Machine {
        Machine(now: start, connectTimeout: .seconds(45), maxConnectPayloadBytes: 100)
    }

    func connect(_ namespace: String = "/", auth: SocketValue? = nil) -> SocketPacket {
        SocketPacket(kind: .connect, namespace: namespace, data: auth)
    }

    func event(_ namespace: String = "/", id: Int64? = nil) -> SocketPacket {
        SocketPacket(kind: .event, namespace: namespace, id: id, data: ["hello", 1])
    }

    @Test func aConnectRunsMiddlewareThenJoinsAndStopsTheConnectTimer() throws {
        var machine = machine()
        #expect(machine.connectDeadline == start + .seconds(45))
        #expect(
            try machine.packetReceived(connect(auth: ["token": "t"]), byteCount: 20, namespaceExists: true)
                == [.runMiddleware(namespace: "/", auth: ["token": "t"])])
        #expect(machine.namespaces == ["/": .connecting])
        // Events before the CONNECT is answered break the protocol.
        #expect(throws: SocketProtocolError.self) {
            try machine.packetReceived(event(), byteCount: 10, namespaceExists: true)
        }
        #expect(
            machine.middlewareFinished(namespace: "/", refusal: nil) == [
                .cancelConnectTimer, .acceptConnect(namespace: "/"),
            ])
        #expect(machine.connectDeadline == nil)
        #expect(
            try machine.packetReceived(event(id: 7), byteCount: 10, namespaceExists: true) == [
                .deliverEvent(namespace: "/", arguments: ["hello", 1], ackID: 7, byteCount: 10)
            ])
    }

    @Test func aSecondNamespaceDoesNotTouchTheTimerAgain() throws {
        var machine = machine()
        _ = try machine.packetReceived(connect(), byteCount: 2, namespaceExists: true)
        _ = machine.middlewareFinished(namespace: "/", refusal: nil)
        _ = try machine.packetReceived(connect("/admin"), byteCount: 2, namespaceExists: true)
        #expect(machine.middlewareFinished(namespace: "/admin", refusal: nil) == [.acceptConnect(namespace: "/admin")])
    }

    @Test func refusalsAnswerWithConnectError() throws {
        var machine = machine()
        #expect(
            try machine.packetReceived(connect("/nope"), byteCount: 2, namespaceExists: false) == [
                .refuseConnect(namespace: "/nope", payload: ["message": "Invalid namespace"])
            ])
        #expect(
            try machine.packetReceived(connect(), byteCount: 101, namespaceExists: true) == [
                .refuseConnect(namespace: "/", payload: ["message": "Payload too large"])
            ])
        _ = try machine.packetReceived(connect(), byteCount: 2, namespaceExists: true)
        #expect(
            machine.middlewareFinished(namespace: "/", refusal: ["message": "unauthorized"]) == [
                .refuseConnect(namespace: "/", payload: ["message": "unauthorized"])
            ])
        // Refused: it may try again.
        #expect(machine.namespaces.isEmpty)
        #expect(try machine.packetReceived(connect(), byteCount: 2, namespaceExists: true).count == 1)
    }

    @Test func theConnectTimeoutClosesAConnectionThatJoinedNothing() throws {
        var machine = machine()
        #expect(machine.connectTimerFired(now: start + .seconds(44)) == [])
        _ = try machine.packetReceived(connect(), byteCount: 2, namespaceExists: true)
        // Still in middleware at the deadline: closed.
        #expect(machine.connectTimerFired(now: start + .seconds(45)) == [.closeConnection(.forcedClose)])
    }

    @Test(arguments: [
        SocketPacket(kind: .disconnect, namespace: "/"),
        SocketPacket(kind: .ack, namespace: "/", id: 1, data: []),
        SocketPacket(kind: .connectError, namespace: "/"),
        SocketPacket(kind: .event, namespace: "/other", data: ["x"]),
    ])
    func packetsForANamespaceNotJoinedBreakTheProtocol(packet: SocketPacket) throws {
        var machine = machine()
        _ = try machine.packetReceived(connect(), byteCount: 2, namespaceExists: true)
        _ = machine.middlewareFinished(namespace: "/", refusal: nil)
        if packet.kind == .disconnect {
            // Joined: a DISCONNECT leaves; a second one is the violation.
            _ = try machine.packetReceived(packet, byteCount: 2, namespaceExists: true)
        }
        #expect(throws: SocketProtocolError.self) {
            try machine.packetReceived(
                packet.kind == .ack ? SocketPacket(kind: .ack, namespace: "/gone", id: 1, data: []) : packet,
                byteCount: 2, namespaceExists: true)
        }
        #expect(machine.connectionFailed() == [.closeConnection(.parseError)])
    }

    @Test func aClientDisconnectLeavesItsNamespace() throws {
        var machine = machine()
        _ = try machine.packetReceived(connect(), byteCount: 2, namespaceExists: true)
        _ = machine.middlewareFinished(namespace: "/", refusal: nil)
        #expect(
            try machine.packetReceived(SocketPacket(kind: .disconnect), byteCount: 2, namespaceExists: true) == [
                .leave(namespace: "/", reason: .clientNamespaceDisconnect)
            ])
        #expect(throws: SocketProtocolError.self) {
            try machine.packetReceived(event(), byteCount: 2, namespaceExists: true)
        }
    }

    @Test func serverDisconnectsTellTheClient() throws {
        var machine = machine()
        for name in ["/", "/admin"] {
            _ = try machine.packetReceived(connect(name), byteCount: 2, namespaceExists: true)
            _ = machine.middlewareFinished(namespace: name, refusal: nil)
        }
        #expect(
            machine.disconnect(namespace: "/admin") == [
                .sendDisconnect(namespace: "/admin"), .leave(namespace: "/admin", reason: .serverNamespaceDisconnect),
            ])
        #expect(machine.disconnect(namespace: "/admin") == [])
        #expect(
            machine.disconnectAll() == [
                .sendDisconnect(namespace: "/"), .leave(namespace: "/", reason: .serverNamespaceDisconnect),
                .closeConnection(.forcedClose),
            ])
    }

    @Test func whenTheEngineClosesEverySocketLeavesAndNothingMoreHappens() throws {
        var machine = machine()
        _ = try machine.packetReceived(connect(), byteCount: 2, namespaceExists: true)
        _ = machine.middlewareFinished(namespace: "/", refusal: nil)
        _ = try machine.packetReceived(connect("/late"), byteCount: 2, namespaceExists: true)
        #expect(
            machine.engineClosed(.pingTimeout) == [.leave(namespace: "/", reason: .pingTimeout), .cancelConnectTimer])
        // Middleware that finishes afterwards, more packets, timers: all ignored.
        #expect(machine.middlewareFinished(namespace: "/late", refusal: nil) == [])
        #expect(try machine.packetReceived(event(), byteCount: 2, namespaceExists: true) == [])
        #expect(machine.engineClosed(.transportClose) == [])
        #expect(machine.disconnectAll() == [])
    }

    // MARK: Connection-state recovery

    @Test func aConnectWithPidAndOffsetAsksForRecoveryOnlyWhenItIsOn() throws {
        let auth: SocketValue = ["token": "t", "pid": "p", "offset": "o"]
        var off = machine()
        #expect(
            try off.packetReceived(connect(auth: auth), byteCount: 20, namespaceExists: true)
                == [.runMiddleware(namespace: "/", auth: auth)])
        var on = Machine(now: start, connectTimeout: .seconds(45), maxConnectPayloadBytes: 100, recoveryEnabled: true)
        #expect(
            try on.packetReceived(connect(auth: auth), byteCount: 20, namespaceExists: true)
                == [.restoreSession(namespace: "/", auth: auth, pid: "p", offset: "o")])
        #expect(on.namespaces == ["/": .connecting])
    }

    @Test func recoveryNeedsBothStrings() throws {
        for auth: SocketValue in [
            ["pid": "p"], ["offset": "o"], ["pid": 1, "offset": "o"], ["pid": "p", "offset": nil],
        ] {
            var machine = Machine(
                now: start, connectTimeout: .seconds(45), maxConnectPayloadBytes: 100, recoveryEnabled: true)
            #expect(
                try machine.packetReceived(connect(auth: auth), byteCount: 20, namespaceExists: true)
                    == [.runMiddleware(namespace: "/", auth: auth)])
        }
    }

    @Test func aRecoveredSessionSkipsMiddlewareOrRunsIt() throws {
        let auth: SocketValue = ["pid": "p", "offset": "o"]
        var skipping = Machine(
            now: start, connectTimeout: .seconds(45), maxConnectPayloadBytes: 100, recoveryEnabled: true)
        _ = try skipping.packetReceived(connect(auth: auth), byteCount: 20, namespaceExists: true)
        #expect(
            skipping.restoreFinished(namespace: "/", auth: auth, skipMiddleware: true) == [
                .createSocket(namespace: "/", auth: auth), .cancelConnectTimer, .acceptConnect(namespace: "/"),
            ])
        #expect(skipping.namespaces == ["/": .connected])
        var checking = Machine(
            now: start, connectTimeout: .seconds(45), maxConnectPayloadBytes: 100, recoveryEnabled: true)
        _ = try checking.packetReceived(connect(auth: auth), byteCount: 20, namespaceExists: true)
        #expect(
            checking.restoreFinished(namespace: "/", auth: auth, skipMiddleware: false) == [
                .runMiddleware(namespace: "/", auth: auth)
            ])
        #expect(checking.namespaces == ["/": .connecting])
    }

    @Test func aLookupThatEndsAfterTheConnectionClosedDoesNothing() throws {
        let auth: SocketValue = ["pid": "p", "offset": "o"]
        var machine = Machine(
            now: start, connectTimeout: .seconds(45), maxConnectPayloadBytes: 100, recoveryEnabled: true)
        _ = try machine.packetReceived(connect(auth: auth), byteCount: 20, namespaceExists: true)
        _ = machine.engineClosed(.transportClose)
        #expect(machine.restoreFinished(namespace: "/", auth: auth, skipMiddleware: true) == [])
    }
}

@Suite("Acknowledgement table")
struct AcknowledgementTableTests {
    @Test func answersEachIDOnceAndFailsTheRestTogether() {
        var table = AcknowledgementTable<String>()
        let first = table.register("a")
        let second = table.register("b")
        #expect((first, second) == (0, 1))
        #expect(table.update(second) { $0 += "!" })
        #expect(table.resolve(second) == "b!")
        #expect(table.resolve(second) == nil)
        #expect(!table.update(second) { $0 += "?" })
        #expect(table.resolve(99) == nil)
        _ = table.register("c")
        #expect(table.removeAll().sorted() == ["a", "c"])
        #expect(table.count == 0)
    }
}
