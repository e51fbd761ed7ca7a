import SocketIO

/// The `/test` namespace: behaviour the integration tests drive with a real client.
enum TestNamespace {
    static func install(on io: SocketIOServer) {
        let test = io.of("/test")
        test.use { socket in
            if socket.handshake.auth["token"]?.stringValue == "refuse" {
                throw ConnectionRefused("not allowed", data: ["reason": "refused by test middleware"])
            }
            socket[data: ClientName.self] = socket.handshake.auth["name"]?.stringValue ?? "anonymous"
        }
        test.onConnection { socket in
            socket.on("join") { arguments, ack in
                if let room = arguments.first?.stringValue { socket.join(room) }
                ack?.send([.array(socket.rooms.sorted().map { .string($0) })])
            }
            socket.on("leave") { arguments, ack in
                if let room = arguments.first?.stringValue { socket.leave(room) }
                ack?.send([])
            }
            // ["room", "event", payload]: to everyone in the room, including the sender.
            socket.on("to-room") { arguments, ack in
                guard let room = arguments.first?.stringValue, let event = arguments[safe: 1]?.stringValue else {
                    return
                }
                test.to(room).emit(event, arguments: Array(arguments.dropFirst(2)))
                ack?.send([])
            }
            // ["room", "event", payload]: to the room except the sender.
            socket.on("to-room-except-me") { arguments, ack in
                guard let room = arguments.first?.stringValue, let event = arguments[safe: 1]?.stringValue else {
                    return
                }
                socket.to(room).emit(event, arguments: Array(arguments.dropFirst(2)))
                ack?.send([])
            }
            // ["event", args…]: asks the client (with an ack) and reports its answer as "answer".
            socket.on("ask") { arguments, ack in
                guard let event = arguments.first?.stringValue else { return }
                do {
                    let reply = try await socket.emitWithAck(
                        event, arguments: Array(arguments.dropFirst()), timeout: .seconds(2))
                    ack?.send([["answer": .array(reply)]])
                } catch {
                    ack?.send([["error": .string("\(error)")]])
                }
            }
            socket.on("recovered") { _, ack in
                ack?.send([.bool(socket.recovered)])
            }
            socket.on("whoami") { _, ack in
                ack?.send([.string(socket[data: ClientName.self] ?? "")])
            }
            socket.on("kick-me") { _, _ in
                socket.disconnect()
            }
            socket.on("count") { arguments, ack in
                let room = arguments.first?.stringValue ?? socket.id
                ack?.send([.int(Int64(test.to(room).localSockets.count))])
            }
        }
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}

/// The name a client gave in its CONNECT payload.
enum ClientName: SocketDataKey {
    typealias Value = String
}
