import Logging
import NIOCore
import ParleyChat
import ParleyDomain
import SocketIO

/// What an authenticated socket does on this instance: it joins its user's and its token's rooms,
/// counts as a device for presence, ends when its token expires, gets `online-users`, and its
/// client events (`send-message`, `mark-read`, `typing`, `stop-typing`) are served within a
/// per-socket rate.
struct SocketEventHandlers: Sendable {
    let messages: MessageService
    let groups: GroupService
    let presence: PresenceService
    let bus: any ClusterBus
    let sent: SentMessages
    /// With recovery served by the store: its history, the marks handed out, and the barrier
    /// that makes a position read from it one the bus has delivered.
    let recovery: StoredRecoveryParts?
    let settings: RealtimeSettings
    let logger: Logger

    func connected(_ socket: Socket) async {
        guard let session = socket[data: SocketSession.self] else {
            socket.disconnect()
            return
        }
        let user = session.userID
        socket.join(RealtimeRooms.user(user), RealtimeRooms.token(session.fingerprint))
        let gate = SocketFloodGate(rate: settings.eventRate, burst: settings.eventBurst)
        socket.setEventGate { _ in gate.decide() }
        // After the gate: events a client sends while its groups are read are counted too.
        await joinGroups(socket, of: user)

        // The socket ends when its token does.
        let remaining = session.expiresAt.milliseconds(since: .now())
        let expiry = socket.eventLoop.scheduleTask(in: .milliseconds(max(0, remaining))) {
            socket.disconnect()
        }
        socket.onDisconnect { [presence, recovery] _ in
            expiry.cancel()
            presence.deviceDisconnected(user)
            recovery?.marks.forget(socket.id, of: user)
        }

        presence.deviceConnected(user)
        var online = await presence.onlineUsers()
        online.insert(user)
        // Through the socket's own room, so that with connection-state recovery it carries an
        // offset: a mark in the user's history (``StoredRecovery``), or one the in-memory store
        // hands out (``RecoverableEvents``).
        let list: [SocketValue] = [.array(online.sorted().map { .string($0.hexString) })]
        let recipient = socket.namespace.to(socket.id)
        if let recovery {
            do {
                // The database can be ahead of the bus: a mark it gives is handed out once the
                // bus has delivered everything up to it here (a barrier came back), so no event
                // at or below the mark can still reach the socket after it.
                let stored = try await recovery.log.latestPosition(of: user)
                guard await recovery.barrier.pass() else { throw BarrierLost() }
                recovery.marks.mark(for: user, stored: stored) { mark in
                    recipient.emit("online-users", arguments: list, offset: String(mark))
                }
            } catch {
                // Without a mark, this socket cannot recover until its next stored event.
                logger.warning("Could not hand out a recovery mark", metadata: ["error": "\(error)"])
                recipient.emit("online-users", arguments: list, offset: nil)
            }
        } else {
            recipient.emit("online-users", arguments: list)
        }

        socket.on("send-message") { arguments, ack in
            await sendMessage(arguments, from: user, socket: socket, ack: ack)
        }
        socket.on("mark-read") { arguments, ack in
            await markRead(arguments, by: user, ack: ack)
        }
        socket.on("typing") { arguments, ack in
            await relayTyping(arguments, from: user, stop: false, ack: ack)
        }
        socket.on("stop-typing") { arguments, ack in
            await relayTyping(arguments, from: user, stop: true, ack: ack)
        }
        socket.on("send-group-message") { arguments, ack in
            await sendGroupMessage(arguments, from: user, socket: socket, ack: ack)
        }
        socket.on("mark-group-read") { arguments, ack in
            await markGroupRead(arguments, by: user, ack: ack)
        }
    }

    /// Puts the socket in the rooms of its user's groups, and out of any other group's room (a
    /// socket recovered from memory comes back with the rooms it had, of groups its user may
    /// have left since). Membership can change while it is read: the socket is in its user's
    /// room already, so a change announced from now on moves it; one announced before is in a
    /// second reading, which decides.
    private func joinGroups(_ socket: Socket, of user: ObjectID) async {
        do {
            // Rooms a notice joins meanwhile are the notice's to keep: only those the socket had
            // before, or joined here, are left when the second reading does not have them.
            let before = socket.rooms.filter(RealtimeRooms.isGroup)
            let first = try await groups.list(of: user).map { RealtimeRooms.group($0.id) }
            socket.join(first)
            let now = Set(try await groups.list(of: user).map { RealtimeRooms.group($0.id) })
            for room in before.union(first) where !now.contains(room) {
                socket.leave(room)
            }
        } catch {
            for room in socket.rooms where RealtimeRooms.isGroup(room) { socket.leave(room) }
            logger.warning(
                "Could not read a user's groups; the socket gets no group events", metadata: ["error": "\(error)"])
        }
    }

    /// Every local socket back in the rooms of its user's groups as the store has them now
    /// (``RealtimeDelivery`` calls it when the bus tells that events may have been lost). One
    /// reading per user; a user whose groups cannot be read leaves every group room, rather than
    /// keep one it may have been removed from.
    func regroup(_ namespace: SocketNamespace) async {
        var byUser: [ObjectID: [Socket]] = [:]
        for socket in namespace.all.localSockets {
            guard let session = socket[data: SocketSession.self] else { continue }
            byUser[session.userID, default: []].append(socket)
        }
        for (user, sockets) in byUser {
            let rooms = (try? await groups.list(of: user)).map { Set($0.map { RealtimeRooms.group($0.id) }) } ?? []
            for socket in sockets {
                for room in socket.rooms where RealtimeRooms.isGroup(room) && !rooms.contains(room) {
                    socket.leave(room)
                }
                socket.join(rooms)
            }
        }
    }

    /// After the bus lost events: the local sockets of every user for whom the store holds an
    /// event past what was delivered here (`heard`, taken when the loss was noticed) close their
    /// connection, as a lost network would. Their clients reconnect by themselves and recover
    /// from the store what they missed (``StoredRecovery``), in order and once; a live socket
    /// cannot be sent it in place without racing the events the bus brings meanwhile. A user
    /// this instance does not remember, or whose position cannot be read, is reconnected unless
    /// they have no history at all. One read per user.
    func reconnectBehind(_ namespace: SocketNamespace, heard: [ObjectID: Int64?]) async {
        guard let recovery else { return }
        var reconnected = 0
        for (user, position) in heard {
            let latest = (try? await recovery.log.latestPosition(of: user)) ?? .max
            guard latest > (position ?? 0) else { continue }
            for socket in namespace.to(RealtimeRooms.user(user)).localSockets {
                socket.closeConnection()
                reconnected += 1
            }
        }
        if reconnected > 0 {
            logger.notice(
                "Reconnecting sockets that may have missed events while the cluster bus was lost",
                metadata: ["sockets": "\(reconnected)"])
        }
    }

    private func sendGroupMessage(
        _ arguments: [SocketValue], from user: ObjectID, socket: Socket, ack: Acknowledgement?
    ) async {
        let id = ObjectID()
        do {
            let request = try SocketPayload.decode(SendGroupMessageRequest.self, from: arguments)
            sent.sending(id, from: socket.id)
            let message = try await offEventLoop(if: (request.image?.utf8.count ?? 0) > largeBodyBytes) {
                try await groups.send(
                    from: user, to: request.groupId, text: request.text, image: request.image.map(ImageInput.dataURI),
                    id: id)
            }
            ack?.send([RealtimeReply.success([("message", SocketValue(json: message))])])
        } catch {
            sent.failed(id)
            ack?.send([reply(to: error, in: "send-group-message")])
        }
    }

    private func markGroupRead(_ arguments: [SocketValue], by user: ObjectID, ack: Acknowledgement?) async {
        do {
            let request = try SocketPayload.decode(MarkGroupReadRequest.self, from: arguments)
            let (receipt, moved) = try await groups.markRead(in: request.groupId, by: user, upTo: request.upTo)
            ack?.send([
                RealtimeReply.success([
                    ("groupId", .string(receipt.groupID.hexString)), ("upTo", .string(receipt.upTo.hexString)),
                    ("readAt", .string(receipt.readAt.iso8601)), ("moved", .bool(moved)),
                ])
            ])
        } catch {
            ack?.send([reply(to: error, in: "mark-group-read")])
        }
    }

    private func sendMessage(_ arguments: [SocketValue], from user: ObjectID, socket: Socket, ack: Acknowledgement?)
        async
    {
        let id = ObjectID()
        do {
            // The REST body's fields and rules: `send-message` takes what `POST /api/message` takes.
            let request = try SocketPayload.decode(SendMessageRequest.self, from: arguments)
            sent.sending(id, from: socket.id)
            // An image sent inline is decoded and checked off the socket's event loop.
            let message = try await offEventLoop(if: (request.image?.utf8.count ?? 0) > largeBodyBytes) {
                try await messages.send(
                    from: user,
                    to: request.to,
                    text: request.text,
                    image: request.image.map(ImageInput.dataURI),
                    id: id
                )
            }
            ack?.send([RealtimeReply.success([("message", SocketValue(message))])])
        } catch {
            sent.failed(id)
            ack?.send([reply(to: error, in: "send-message")])
        }
    }

    private func markRead(_ arguments: [SocketValue], by user: ObjectID, ack: Acknowledgement?) async {
        do {
            let request = try SocketPayload.decode(MarkReadRequest.self, from: arguments)
            let (receipt, marked) = try await messages.markRead(by: user, with: request.with, upTo: request.upTo)
            ack?.send([
                RealtimeReply.success([
                    ("with", .string(receipt.with.hexString)), ("upTo", .string(receipt.upTo.hexString)),
                    ("readAt", .string(receipt.readAt.iso8601)), ("marked", .int(Int64(marked))),
                ])
            ])
        } catch {
            ack?.send([reply(to: error, in: "mark-read")])
        }
    }

    private func relayTyping(_ arguments: [SocketValue], from user: ObjectID, stop: Bool, ack: Acknowledgement?) async {
        do {
            let request = try SocketPayload.decode(TypingRequest.self, from: arguments)
            if request.to == nil, request.group != nil {
                try await groups.typing(in: request.group, by: user, stop: stop)
                ack?.send([RealtimeReply.success()])
                return
            }
            let receiver = try Validation.id(request.to, field: "to")
            do {
                try await bus.publish(stop ? .stopTyping(from: user, to: receiver) : .typing(from: user, to: receiver))
            } catch {
                throw ParleyError.storeUnavailable("Could not relay the event")
            }
            ack?.send([RealtimeReply.success()])
        } catch {
            ack?.send([reply(to: error, in: stop ? "stop-typing" : "typing")])
        }
    }

    /// A client's mistake is answered with its code; anything else is logged and answered as an
    /// internal error.
    private func reply(to error: any Error, in event: String) -> SocketValue {
        if let error = error as? ParleyError { return RealtimeReply.failure(error) }
        logger.error("\(event) failed", metadata: ["error": "\(String(reflecting: error))"])
        return RealtimeReply.internalError
    }
}

/// The bus did not bring a barrier back in time.
private struct BarrierLost: Error, CustomStringConvertible {
    var description: String { "the cluster bus did not bring a barrier back in time" }
}
